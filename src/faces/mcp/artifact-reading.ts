import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Artifact, ArtifactVersion } from '../../core/artifacts/artifact-types.js';
import type { FaceDeps } from '../http/face-deps.js';

/** The most text read_artifact returns; a longer file is cut there, with a link to the whole. */
const MAX_TEXT_BYTES = 256 * 1024;

const TEXT_TYPES = /^(text\/|application\/(json|jsonl|yaml|toml|xml|sql|javascript)$|application\/[\w.+-]+\+(json|xml)$|image\/svg\+xml$)/;

/**
 * One version of a file for a model: its text when it is text (valid UTF-8 without NUL bytes),
 * else what it is and a signed link to download it. A second content item gives the facts
 * (path, version, size, media type, SHA-256) as JSON.
 */
export async function readArtifact(deps: FaceDeps, artifact: Artifact, version: ArtifactVersion, baseUrl: string): Promise<CallToolResult> {
  const facts = { path: artifact.path, version: version.number, size: version.size, mediaType: version.mediaType, sha256: version.sha256 };
  const link = () => deps.links.url(artifact, version, baseUrl);
  const minutes = Math.round(deps.signedUrls.ttlMs / 60_000);
  if (TEXT_TYPES.test(version.mediaType) || version.size === 0) {
    const head = await readHead(deps, version, Math.min(version.size, MAX_TEXT_BYTES));
    const text = utf8(head);
    if (text !== undefined) {
      const truncated = version.size > MAX_TEXT_BYTES;
      const note = truncated
        ? [{ type: 'text' as const, text: `[truncated: the first ${MAX_TEXT_BYTES} of ${version.size} bytes; the whole file (link valid for ${minutes} min): ${await link()}]` }]
        : [];
      return { content: [{ type: 'text', text }, ...note, { type: 'text', text: JSON.stringify({ ...facts, truncated }) }] };
    }
  }
  const url = await link();
  return {
    content: [
      { type: 'text', text: `${artifact.path} is a binary file (${version.mediaType}, ${version.size} bytes). Download it (no key needed, for ${minutes} min): ${url}` },
      { type: 'text', text: JSON.stringify({ ...facts, downloadUrl: url }) },
    ],
  };
}

async function readHead(deps: FaceDeps, version: ArtifactVersion, bytes: number): Promise<Buffer> {
  if (bytes === 0) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of await deps.artifacts.content(version, { start: 0, end: bytes - 1 })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The bytes as text, or undefined when they are not UTF-8 text. A character cut at the end is dropped. */
function utf8(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
  } catch {
    return undefined;
  }
}
