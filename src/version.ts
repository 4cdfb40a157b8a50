import { readFileSync } from 'node:fs';

/** Kiln's version, from its package.json (two levels up from the compiled `dist/src`). */
export const KILN_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
