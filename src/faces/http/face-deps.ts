import type { ApiKeys } from '../../core/auth/api-keys.js';
import type { ConsoleSessions } from '../../core/auth/console-sessions.js';
import type { KeyManagement } from '../../core/auth/key-management.js';
import type { AgentService } from '../../core/agents/agent-service.js';
import type { ArtifactService } from '../../core/artifacts/artifact-service.js';
import type { DownloadLinks } from '../../core/artifacts/download-links.js';
import type { SignedUrls } from '../../core/artifacts/signed-urls.js';
import type { Approvals } from '../../core/tasks/approvals.js';
import type { IdempotencyKeys } from '../../core/idempotency/idempotency-keys.js';
import type { RateLimiter } from '../../core/quotas/rate-limiter.js';
import type { TaskPurger } from '../../core/retention/task-purger.js';
import type { TaskService } from '../../core/tasks/task-service.js';
import type { WidgetApps } from '../../core/widgets/widget-apps.js';
import type { WidgetTokens } from '../../core/widgets/widget-tokens.js';
import type { WebhookEndpoints } from '../../core/webhooks/webhook-endpoints.js';
import type { Workspaces } from '../../core/workspace/workspaces.js';
import type { Logger } from '../../logger.js';
import type { MultipartLimits } from './multipart.js';
import type { OpenStreams } from './open-streams.js';

/** What every API face is given by the composition root. */
export interface FaceDeps {
  tasks: TaskService;
  approvals: Approvals;
  agents: AgentService;
  artifacts: ArtifactService;
  signedUrls: SignedUrls;
  links: DownloadLinks;
  /** The address clients reach this server at, for signed links; derived from each request when unset. */
  publicUrl: string | undefined;
  keys: ApiKeys;
  keyManagement: KeyManagement;
  widgetApps: WidgetApps;
  widgetTokens: WidgetTokens;
  /** Origins whose pages may call Kiln with an API key (KILN_CORS_ORIGINS). */
  corsOrigins: readonly string[];
  /** Sign-in sessions of the web console (a cookie instead of an API key). */
  sessions: ConsoleSessions;
  idempotency: IdempotencyKeys;
  webhooks: WebhookEndpoints;
  purger: TaskPurger;
  /** Requests per API key; null when unlimited (KILN_RATE_LIMIT unset). */
  rateLimiter: RateLimiter | null;
  workspaces: Workspaces;
  logger: Logger;
  heartbeatMs: number;
  /** Streams open on this server (ended with a reconnect hint on shutdown). */
  streams: OpenStreams;
  uploadLimits: MultipartLimits;
}
