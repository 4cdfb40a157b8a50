import type { DomainErrorKind } from '../../core/errors.js';

/** The HTTP status of each kind of domain error, the same in every face (faces differ in the body). */
export const HTTP_STATUS: Record<DomainErrorKind, number> = {
  auth_required: 401,
  invalid_api_key: 401,
  invalid_auth_format: 401,
  forbidden: 403,
  not_found: 404,
  invalid_input: 400,
  invalid_env: 400,
  conflict: 409,
  too_large: 413,
  storage_full: 507,
};
