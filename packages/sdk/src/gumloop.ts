import { seg, type Transport } from './transport.js';
import type { GumloopAgent, GumloopArtifact, GumloopArtifactQuery, GumloopDownload } from './types.js';

/** Kiln's Gumloop-compatible face (`/gumloop`), in Gumloop's own shapes. */
export class Gumloop {
  constructor(private readonly transport: Transport) {}

  /**
   * @example
   * const agents = await kiln.gumloop.listAgents();
   */
  async listAgents(options: { signal?: AbortSignal } = {}): Promise<GumloopAgent[]> {
    return (await this.transport.json<{ agents: GumloopAgent[] }>('GET', '/gumloop/agents', options)).agents;
  }

  async getAgent(agentId: string, options: { signal?: AbortSignal } = {}): Promise<GumloopAgent> {
    return (await this.transport.json<{ agent: GumloopAgent }>('GET', `/gumloop/agents/${seg(agentId)}`, options)).agent;
  }

  /** One page of an agent's artifacts (a row per version); pass `next_cursor` back as `cursor`. */
  listArtifacts(
    agentId: string,
    query: GumloopArtifactQuery = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<{ artifacts: GumloopArtifact[]; next_cursor: string | null }> {
    return this.transport.json('GET', `/gumloop/agents/${seg(agentId)}/artifacts`, { query: { ...query }, ...options });
  }

  /**
   * Every artifact version of an agent, page after page.
   *
   * @example
   * for await (const a of kiln.gumloop.artifacts(agentId, { session_id: taskId })) console.log(a.filename);
   */
  async *artifacts(agentId: string, query: Omit<GumloopArtifactQuery, 'cursor'> = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<GumloopArtifact> {
    let cursor: string | undefined;
    do {
      const page = await this.listArtifacts(agentId, { ...query, ...(cursor ? { cursor } : {}) }, options);
      yield* page.artifacts;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** A signed download link for an artifact (its latest version, or `versionId`). */
  downloadLink(artifactId: string, options: { versionId?: string; signal?: AbortSignal } = {}): Promise<GumloopDownload> {
    const { versionId, signal } = options;
    return this.transport.json('GET', `/gumloop/artifacts/${seg(artifactId)}/download`, {
      query: { version_id: versionId },
      ...(signal ? { signal } : {}),
    });
  }
}
