/**
 * The event streams open on this server, so that shutdown can end each one with a `retry:`
 * hint (clients then reconnect, with Last-Event-ID, to another process or after the restart)
 * and metrics can count them.
 */
export class OpenStreams {
  private readonly streams = new Set<{ close(retryMs: number): void; ended: Promise<void> }>();

  get size(): number {
    return this.streams.size;
  }

  /** Registers a stream; `close` must end it, `ended` settles once it has. Returns the unregister function. */
  add(stream: { close(retryMs: number): void; ended: Promise<void> }): () => void {
    this.streams.add(stream);
    return () => this.streams.delete(stream);
  }

  /** Ends every open stream with a reconnect hint of `retryMs`; resolves when they ended or after `waitMs`. */
  async closeAll(retryMs: number, waitMs: number): Promise<void> {
    const all = [...this.streams];
    for (const stream of all) stream.close(retryMs);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(all.map((s) => s.ended)), new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }
}
