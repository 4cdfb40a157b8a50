import { KilnError, type KilnClient, type StreamEvent } from './kiln-client.js';
import type { Outcome, Panel } from './panel.js';

const RECONNECT_DELAY_MS = 1000;

/**
 * One end user's conversation: a task whose id is kept in localStorage (per app and end user),
 * so that a reloaded page finds it again, draws its history and re-attaches to its stream.
 */
export class Conversation {
  private taskId: string | null = null;
  private storageKey = '';
  /** The id of the last logged event drawn: where a reconnection resumes. */
  private lastEventId: number | undefined;
  /** The answer of the turn under way, while it is being drawn. */
  private answer: ReturnType<Panel['liveAnswer']> | null = null;
  private streaming: AbortController | null = null;

  constructor(
    private readonly client: KilnClient,
    private readonly panel: Panel,
  ) {}

  /** Finds the end user's conversation, if any, and shows it. */
  async resume(): Promise<void> {
    const { app, endUser } = await this.client.identity();
    this.storageKey = `kiln-widget:${app}:${endUser}`;
    this.taskId = localStorage.getItem(this.storageKey);
    if (this.taskId) await this.follow(undefined);
  }

  async send(text: string): Promise<void> {
    this.panel.setBusy(true);
    this.panel.message('user', text);
    try {
      if (this.taskId) {
        await this.client.request('POST', `/api/v1/tasks/${encodeURIComponent(this.taskId)}/messages`, { message: text });
      } else {
        const created = await this.client.request('POST', '/api/v1/tasks', { message: text });
        this.taskId = created.data.id as string;
        localStorage.setItem(this.storageKey, this.taskId);
        // The user's message is drawn already: the stream starts after the (empty) log.
        this.lastEventId = 0;
      }
      this.answer = this.panel.liveAnswer();
      await this.follow(this.lastEventId);
    } catch (error) {
      this.panel.note(messageOf(error), true);
      this.panel.setBusy(false);
    }
  }

  /**
   * Reads the task's stream until its turn ends, drawing each event. From the start (the history,
   * then the current turn) when `from` is undefined; otherwise the events after `from`. A dropped
   * connection is resumed with Last-Event-ID, so nothing is lost or drawn twice.
   */
  private async follow(from: number | undefined): Promise<void> {
    this.streaming?.abort();
    const controller = new AbortController();
    this.streaming = controller;
    let ended = false;
    for (let attempt = 0; !ended && !controller.signal.aborted; attempt++) {
      const after = attempt === 0 ? from : this.lastEventId;
      if (after === undefined) {
        // Drawn again from the history.
        this.panel.clear();
        this.answer = null;
      }
      try {
        let received = 0;
        for await (const event of this.client.stream(this.taskId!, after, controller.signal)) {
          received++;
          // The server's stream broke (not the task): resume from the last event drawn.
          if (event.event === 'error' && event.data?.code === 'STREAM_ERROR') throw new Error('stream interrupted');
          if (event.id !== undefined) this.lastEventId = event.id;
          ended = this.draw(event) || ended;
        }
        // A 204 (nothing after the last event drawn) ends it too; a stream cut before its
        // terminal event is resumed.
        if (received === 0) ended = true;
        else if (!ended) await delay(RECONNECT_DELAY_MS);
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof KilnError && error.status === 404 && this.lastEventId === undefined) {
          // The conversation is gone (or was another end user's): start a new one.
          localStorage.removeItem(this.storageKey);
          this.taskId = null;
          this.panel.clear();
          ended = true;
        } else if (error instanceof KilnError && error.status < 500 && error.status !== 401) {
          this.panel.note(error.message, true);
          ended = true;
        } else {
          await delay(RECONNECT_DELAY_MS);
        }
      }
    }
    this.panel.setBusy(false);
    if (this.taskId) await this.showFiles().catch(() => {});
  }

  /** Draws one event; true when it ends the turn. */
  private draw({ event, data }: StreamEvent): boolean {
    switch (event) {
      case 'history_message':
        this.panel.message(data.role === 'user' ? 'user' : 'assistant', String(data.content ?? ''));
        return false;
      case 'history_done':
        // A turn under way is drawn from its first event on; an ended one is in the history.
        if (data.isStreaming) {
          this.panel.setBusy(true);
          this.answer = this.panel.liveAnswer();
        }
        return false;
      case 'content':
        if (!this.answer) this.answer = this.panel.liveAnswer();
        this.answer.add(String(data.text ?? ''));
        return false;
      case 'tool_call':
        if (data.status === 'awaiting_approval') {
          this.panel.approval(String(data.callId), String(data.toolName), data.args, (outcome) => void this.decide(String(data.callId), outcome));
        }
        this.panel.activity(String(data.callId), `${data.toolName}: ${data.status}`);
        return false;
      case 'tool_approval':
        this.panel.approvalDecided(String(data.callId));
        return false;
      case 'tool_result':
        this.panel.activity(String(data.callId), `${data.toolName ?? 'tool'}: ${data.status ?? 'done'}`);
        return false;
      case 'done':
        // Sent again after the history of an ended turn: only a turn being drawn takes it.
        this.answer?.finish(String(data.finalResponse ?? ''));
        this.answer = null;
        return true;
      case 'error':
        if (data.status !== 'failed') return false;
        this.endAnswer();
        this.panel.note(`The assistant stopped: ${data.message ?? 'an error'}`, true);
        return true;
      case 'cancelled':
        this.endAnswer();
        this.panel.note('Cancelled.');
        return true;
      default:
        return false;
    }
  }

  private endAnswer(): void {
    this.answer?.finish('');
    this.answer = null;
  }

  private async decide(callId: string, outcome: Outcome): Promise<void> {
    try {
      await this.client.request('POST', `/api/v1/tasks/${encodeURIComponent(this.taskId!)}/tools/${encodeURIComponent(callId)}/approve`, { outcome });
    } catch (error) {
      this.panel.note(messageOf(error), true);
    }
  }

  private async showFiles(): Promise<void> {
    const listing = await this.client.request('GET', `/api/v1/tasks/${encodeURIComponent(this.taskId!)}/artifacts`);
    const files = (listing.data.files as { name: string; path: string; downloadUrl: string }[]).filter((file) => !file.path.startsWith('uploads/'));
    this.panel.showFiles(files);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
