import { appendFiles, type FileInput } from './files.js';
import { seg, type Transport } from './transport.js';
import type {
  SyntropicArtifact,
  SyntropicArtifactQuery,
  SyntropicArtifactSummary,
  SyntropicContent,
  SyntropicCreateArtifact,
  SyntropicCreated,
  SyntropicUploaded,
} from './types.js';

/** Kiln's Syntropic137-compatible artifact face (`/syntropic`), in its own shapes. */
export class Syntropic {
  constructor(private readonly transport: Transport) {}

  /**
   * @example
   * const reports = await kiln.syntropic.list({ workflow_id: 'wf-1', artifact_type: 'analysis_report' });
   */
  list(query: SyntropicArtifactQuery = {}, options: { signal?: AbortSignal } = {}): Promise<SyntropicArtifactSummary[]> {
    return this.transport.json('GET', '/syntropic/artifacts', { query: { ...query }, ...options });
  }

  /**
   * Creates an artifact from text.
   *
   * @example
   * const { id } = await kiln.syntropic.create({ workflow_id: 'wf-1', artifact_type: 'plan', title: 'Plan', content: '# Plan' });
   */
  create(artifact: SyntropicCreateArtifact, options: { signal?: AbortSignal } = {}): Promise<SyntropicCreated> {
    return this.transport.json('POST', '/syntropic/artifacts', { json: artifact, ...options });
  }

  /** An artifact (id or unique id prefix) at its latest version. */
  get(id: string, options: { includeContent?: boolean; signal?: AbortSignal } = {}): Promise<SyntropicArtifact> {
    const { includeContent, signal } = options;
    return this.transport.json('GET', `/syntropic/artifacts/${seg(id)}`, {
      query: { include_content: includeContent },
      ...(signal ? { signal } : {}),
    });
  }

  /** The latest version's content as text. */
  content(id: string, options: { signal?: AbortSignal } = {}): Promise<SyntropicContent> {
    return this.transport.json('GET', `/syntropic/artifacts/${seg(id)}/content`, options);
  }

  /** Uploads new content for an artifact: a new version (up to 50 MB). */
  async upload(id: string, file: FileInput, options: { signal?: AbortSignal } = {}): Promise<SyntropicUploaded> {
    const form = new FormData();
    await appendFiles(form, [file], 'file');
    return this.transport.json('POST', `/syntropic/artifacts/${seg(id)}/upload`, { body: form, ...options });
  }
}
