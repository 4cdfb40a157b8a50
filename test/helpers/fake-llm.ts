import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the fake provider does for one request. */
export type Reply =
  | { kind: 'stream'; events: string[] }
  | { kind: 'status'; status: number; body: unknown; headers?: Record<string, string> }
  /** Sends the first `after` events, then drops the connection. */
  | { kind: 'drop'; events: string[]; after: number };

export interface RecordedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/**
 * A model provider of the tests' own, over real HTTP. Each request takes the next scripted
 * reply; requests are recorded for assertions.
 */
export class FakeProvider {
  readonly requests: RecordedRequest[] = [];
  private readonly replies: Reply[] = [];
  private server!: http.Server;
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => this.answer(req, res, body));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  enqueue(...replies: Reply[]): void {
    this.replies.push(...replies);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    this.requests.push({ path: req.url ?? '', headers: req.headers, body: raw ? JSON.parse(raw) : null });
    const reply = this.replies.shift();
    if (!reply) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'the fake provider has no scripted reply left', type: 'server_error' } }));
      return;
    }
    if (reply.kind === 'status') {
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(JSON.stringify(reply.body));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const events = reply.kind === 'drop' ? reply.events.slice(0, reply.after) : reply.events;
    for (const event of events) res.write(event);
    if (reply.kind === 'drop') {
      // Let the partial data reach the client, then cut the connection without ending the response.
      setTimeout(() => res.socket?.destroy(), 20);
    } else {
      res.end();
    }
  }
}

// ---- OpenAI chat-completions wire format -------------------------------------------------

const chunk = (delta: object, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'fake', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

const usageChunk = (prompt: number, completion: number) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'fake', choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } })}\n\n`;

export const openai = {
  /** A text answer streamed in the given pieces, with optional reasoning before it. */
  text(pieces: string[], usage = { prompt: 20, completion: 7 }, reasoning?: string): string[] {
    return [
      chunk({ role: 'assistant', content: '' }),
      ...(reasoning ? [chunk({ reasoning_content: reasoning })] : []),
      ...pieces.map((p) => chunk({ content: p })),
      chunk({}, 'stop'),
      usageChunk(usage.prompt, usage.completion),
      'data: [DONE]\n\n',
    ];
  },

  /** Tool calls whose JSON arguments arrive split across several deltas. */
  toolCalls(calls: { id: string; name: string; args: object }[], usage = { prompt: 30, completion: 12 }): string[] {
    const events = [chunk({ role: 'assistant', content: null })];
    calls.forEach((call, index) => {
      const json = JSON.stringify(call.args);
      const third = Math.ceil(json.length / 3);
      events.push(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }));
      for (let i = 0; i < json.length; i += third) events.push(chunk({ tool_calls: [{ index, function: { arguments: json.slice(i, i + third) } }] }));
    });
    events.push(chunk({}, 'tool_calls'), usageChunk(usage.prompt, usage.completion), 'data: [DONE]\n\n');
    return events;
  },

  error(status: number, message: string, headers?: Record<string, string>): Reply {
    return { kind: 'status', status, body: { error: { message, type: status === 429 ? 'rate_limit_exceeded' : 'server_error' } }, ...(headers ? { headers } : {}) };
  },
};

// ---- Anthropic messages wire format ------------------------------------------------------

const sse = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

export const anthropic = {
  message(blocks: ({ text: string[] } | { thinking: string } | { toolUse: { id: string; name: string; args: object } })[], stop: 'end_turn' | 'tool_use', usage = { input: 25, output: 9 }): string[] {
    const events = [
      sse('message_start', {
        message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude-fake', stop_reason: null, stop_sequence: null, usage: { input_tokens: usage.input, output_tokens: 1 } },
      }),
    ];
    blocks.forEach((block, index) => {
      if ('text' in block) {
        events.push(sse('content_block_start', { index, content_block: { type: 'text', text: '' } }));
        for (const piece of block.text) events.push(sse('content_block_delta', { index, delta: { type: 'text_delta', text: piece } }));
      } else if ('thinking' in block) {
        events.push(sse('content_block_start', { index, content_block: { type: 'thinking', thinking: '' } }));
        events.push(sse('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: block.thinking } }));
        events.push(sse('content_block_delta', { index, delta: { type: 'signature_delta', signature: 'sig' } }));
      } else {
        events.push(sse('content_block_start', { index, content_block: { type: 'tool_use', id: block.toolUse.id, name: block.toolUse.name, input: {} } }));
        const json = JSON.stringify(block.toolUse.args);
        const half = Math.ceil(json.length / 2);
        events.push(sse('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json.slice(0, half) } }));
        events.push(sse('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json.slice(half) } }));
      }
      events.push(sse('content_block_stop', { index }));
    });
    events.push(sse('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output } }));
    events.push(sse('message_stop', {}));
    return events;
  },

  error(status: number, type: string, message: string): Reply {
    return { kind: 'status', status, body: { type: 'error', error: { type, message } } };
  },
};

// ---- OpenAI Responses wire format ---------------------------------------------------------

export const responses = {
  text(pieces: string[], usage = { input: 11, output: 4 }): string[] {
    const text = pieces.join('');
    const base = { id: 'resp_1', object: 'response', created_at: 1, model: 'gpt-fake' };
    return [
      sse('response.created', { sequence_number: 0, response: { ...base, status: 'in_progress', output: [] } }),
      sse('response.output_item.added', { sequence_number: 1, output_index: 0, item: { type: 'message', id: 'msg_1', status: 'in_progress', role: 'assistant', content: [] } }),
      ...pieces.map((delta, i) => sse('response.output_text.delta', { sequence_number: 2 + i, item_id: 'msg_1', output_index: 0, content_index: 0, delta, logprobs: [] })),
      sse('response.output_item.done', {
        sequence_number: 2 + pieces.length,
        output_index: 0,
        item: { type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] },
      }),
      sse('response.completed', {
        sequence_number: 3 + pieces.length,
        response: {
          ...base,
          status: 'completed',
          output: [],
          usage: { input_tokens: usage.input, input_tokens_details: { cached_tokens: 0 }, output_tokens: usage.output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: usage.input + usage.output },
        },
      }),
    ];
  },
};
