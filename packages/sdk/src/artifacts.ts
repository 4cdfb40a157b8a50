import { seg, type Transport } from './transport.js';
import type { ArtifactFile, ArtifactVersion } from './types.js';

/** The bytes of a file being downloaded, as a stream, with what the headers say of them. */
export interface Download {
  body: ReadableStream<Uint8Array>;
  /** Bytes to come (`Content-Length`), when known. */
  size: number | undefined;
  mimeType: string | undefined;
  /** The version's ETag (its SHA-256 in quotes). */
  etag: string | undefined;
  response: Response;
}

export interface DownloadOptions {
  /** A version number; the latest when absent. */
  version?: number;
  /** Start at this byte offset (a `Range` request), e.g. to resume. */
  offset?: number;
  signal?: AbortSignal;
}

/** The files of a task's workspace, their versions and bytes. */
export class Artifacts {
  constructor(private readonly transport: Transport) {}

  /**
   * The workspace's files, each at its latest version.
   *
   * @example
   * const files = await kiln.artifacts.list(taskId);
   */
  async list(taskId: string, options: { signal?: AbortSignal } = {}): Promise<ArtifactFile[]> {
    return (await this.transport.data<{ files: ArtifactFile[] }>('GET', `/api/v1/tasks/${seg(taskId)}/artifacts`, options)).files;
  }

  /**
   * A link that downloads the file (a version of it) without an API key, until `expiresAt`.
   *
   * @example
   * const { url } = await kiln.artifacts.link(taskId, 'downloads/report.md');
   */
  link(taskId: string, path: string, options: { version?: number; signal?: AbortSignal } = {}): Promise<{ url: string; version: number; expiresAt: string }> {
    const { signal, version } = options;
    return this.transport.data('GET', `/api/v1/tasks/${seg(taskId)}/artifacts/link`, { query: { path, version }, ...(signal ? { signal } : {}) });
  }

  /** Every version of a file, newest first. */
  versions(
    taskId: string,
    path: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ path: string; artifactId: string; versions: ArtifactVersion[] }> {
    return this.transport.data('GET', `/api/v1/tasks/${seg(taskId)}/artifacts/versions`, { query: { path }, ...options });
  }

  /**
   * A file's bytes as a stream.
   *
   * @example
   * const { body, size } = await kiln.artifacts.download(taskId, 'downloads/report.md');
   */
  async download(taskId: string, path: string, options: DownloadOptions = {}): Promise<Download> {
    const headers: Record<string, string> = options.offset ? { range: `bytes=${options.offset}-` } : {};
    const response = await this.transport.send('GET', `/api/v1/tasks/${seg(taskId)}/artifacts/download`, {
      query: { path, version: options.version },
      headers,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return toDownload(response);
  }

  /** A file's bytes, whole, in memory. */
  async bytes(taskId: string, path: string, options: Omit<DownloadOptions, 'offset'> = {}): Promise<Uint8Array> {
    const { response } = await this.download(taskId, path, options);
    return new Uint8Array(await response.arrayBuffer());
  }

  /**
   * A zip of a folder of the workspace, or of the whole workspace.
   *
   * @example
   * const zip = await kiln.artifacts.archive(taskId, { path: 'downloads' });
   */
  async archive(taskId: string, options: { path?: string; signal?: AbortSignal } = {}): Promise<Download> {
    const response = await this.transport.send('GET', `/api/v1/tasks/${seg(taskId)}/artifacts/archive`, {
      query: { path: options.path },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return toDownload(response);
  }
}

function toDownload(response: Response): Download {
  if (!response.body) throw new TypeError('The download has no body.');
  const length = response.headers.get('content-length');
  return {
    body: response.body,
    size: length === null ? undefined : Number(length),
    mimeType: response.headers.get('content-type') ?? undefined,
    etag: response.headers.get('etag') ?? undefined,
    response,
  };
}
