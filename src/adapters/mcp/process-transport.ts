import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { SpawnedProcess } from '../../ports/command-runner.js';

/** Bytes of a server's stderr kept, to say why it stopped. */
const STDERR_TAIL = 2048;
/** Largest single message read from a server (the SDK's own stdio default). */
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/**
 * The MCP stdio transport over a process Kiln started itself (in the task's sandbox), where the
 * SDK's own StdioClientTransport would spawn the program on the host. Messages are framed with
 * the SDK's ReadBuffer and serializeMessage.
 */
export class ProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private readonly buffer = new ReadBuffer({ maxBufferSize: MAX_MESSAGE_BYTES });
  private stderrTail = '';
  private closed = false;
  /** Why the process ended, once it has. */
  exitReason: string | null = null;

  constructor(private readonly child: SpawnedProcess) {}

  async start(): Promise<void> {
    this.child.stdout.on('data', (chunk: Buffer) => {
      try {
        this.buffer.append(chunk);
      } catch (error) {
        this.onerror?.(error as Error);
        void this.close();
        return;
      }
      for (;;) {
        let message: JSONRPCMessage | null;
        try {
          message = this.buffer.readMessage();
        } catch (error) {
          // A line that is not JSON-RPC (a stray log line on stdout) is reported and skipped.
          this.onerror?.(error as Error);
          continue;
        }
        if (message === null) break;
        this.onmessage?.(message);
      }
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    void this.child.exited.then(({ exitCode, stopped }) => {
      const tail = this.stderrTail.trim();
      this.exitReason = stopped
        ? `it was stopped: ${stopped} reached`
        : `it exited with code ${exitCode}${tail ? `: ${tail.split('\n').slice(-3).join(' | ')}` : ''}`;
      void this.close();
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) throw new Error('the server is not running');
    const stdin = this.child.stdin;
    if (!stdin.write(serializeMessage(message))) await new Promise<void>((resolve) => stdin.once('drain', () => resolve()));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.child.kill();
    this.buffer.clear();
    this.onclose?.();
  }
}
