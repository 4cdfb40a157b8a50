import type { Message, TaskDetail, TokenUsage, UploadProgress as Progress } from '@kiln/sdk';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorText, isAbort, kiln } from '../api.js';
import { FilePicker, UploadProgress } from '../components/file-picker.js';
import { Markdown } from '../components/markdown.js';
import { ErrorNote, StatusBadge } from '../components/status.js';
import { tokens } from '../format.js';
import { FilesView } from './files.js';
import { applyEvent, newTurn, type Entry, type ToolCallState, type TurnState } from './turn.js';

const EXECUTING = new Set(['pending', 'running', 'awaiting_approval']);

export function TaskPage({ id, tab }: { id: string; tab: 'conversation' | 'files' }) {
  const [task, setTask] = useState<TaskDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = useCallback(() => {
    kiln.tasks.get(id).then(setTask, (err) => setError(errorText(err)));
  }, [id]);
  useEffect(refresh, [refresh]);

  const cancel = async () => {
    try {
      await kiln.tasks.cancel(id);
      refresh();
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <section aria-labelledby="task-title" class="task">
      <div class="title-row">
        <h1 id="task-title" class="task-title">{task ? (task.message.split('\n', 1)[0] ?? '') : 'Task'}</h1>
        {task && <StatusBadge status={task.status} />}
        {task && EXECUTING.has(task.status) && <button type="button" class="danger" onClick={cancel}>Cancel</button>}
      </div>
      <p class="muted small">Task <code>{id}</code></p>
      <nav class="tabs" aria-label="Task views">
        <a href={`#/tasks/${id}`} aria-current={tab === 'conversation' ? 'page' : undefined}>Conversation</a>
        <a href={`#/tasks/${id}/files`} aria-current={tab === 'files' ? 'page' : undefined}>Files</a>
      </nav>
      <ErrorNote error={error} />
      {tab === 'files' ? <FilesView taskId={id} /> : <Conversation id={id} task={task} onChange={refresh} />}
    </section>
  );
}

/**
 * The conversation and the live turn, from the task's stream. The SDK resumes the stream after a
 * dropped connection or a server restart from the last event id, so nothing is lost or shown twice.
 */
function Conversation({ id, task, onChange }: { id: string; task: TaskDetail | null; onChange: () => void }) {
  const [entries, setEntries] = useState<Entry[]>([]);
  /** The last turn's usage when the task had finished before this page followed it. */
  const [finishedUsage, setFinishedUsage] = useState<TokenUsage | null>(null);
  const [reconnecting, setReconnecting] = useState(false);
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const lastId = useRef<number | undefined>(undefined);
  const controller = useRef<AbortController | null>(null);

  const follow = useCallback(
    async (resume: boolean) => {
      controller.current?.abort();
      const ac = new AbortController();
      controller.current = ac;
      setStreaming(true);
      const update = (fn: (turn: TurnState) => TurnState) =>
        setEntries((list) => {
          const last = list[list.length - 1];
          if (last?.kind === 'turn' && !last.turn.ending) return [...list.slice(0, -1), { kind: 'turn', turn: fn(last.turn) }];
          return [...list, { kind: 'turn', turn: fn(newTurn()) }];
        });
      let idle = false;
      try {
        for await (const event of kiln.tasks.stream(id, {
          ...(resume && lastId.current !== undefined ? { lastEventId: lastId.current } : {}),
          signal: ac.signal,
          onReconnect: () => setReconnecting(true),
          onConnect: () => setReconnecting(false),
        })) {
          setReconnecting(false);
          if (event.event === 'history_message') {
            setEntries((list) => [...list, { kind: 'message', message: event.data as Message }]);
            continue;
          }
          if (event.event === 'history_done') {
            idle = !event.data.isStreaming;
            continue;
          }
          if ('id' in event && typeof event.id === 'number') lastId.current = event.id;
          // A finished task's stream ends with its last terminal event, already in the history
          // but for the turn's usage.
          if (idle) {
            if (event.event === 'done' && event.data.usage) setFinishedUsage(event.data.usage);
            continue;
          }
          update((turn) => applyEvent(turn, event));
          if (event.event === 'status' || event.event === 'tool_call' || event.event === 'tool_approval') onChange();
        }
      } catch (err) {
        if (!isAbort(err)) setError(errorText(err));
      } finally {
        if (controller.current === ac) {
          setStreaming(false);
          setReconnecting(false);
          onChange();
        }
      }
    },
    [id, onChange],
  );

  useEffect(() => {
    setEntries([]);
    setFinishedUsage(null);
    lastId.current = undefined;
    void follow(false);
    return () => controller.current?.abort();
  }, [follow]);

  const executing = task ? EXECUTING.has(task.status) : streaming;
  return (
    <div class="conversation">
      {reconnecting && <p class="notice" role="status">Connection lost; reconnecting…</p>}
      <ol class="entries" aria-label="Conversation" aria-live="polite">
        {entries.map((entry, index) => (
          <li key={index} class={`entry ${entry.kind === 'turn' ? 'assistant' : entry.kind === 'sent' ? 'user' : entry.message.role}`}>
            {entry.kind === 'message' && <HistoryMessage message={entry.message} />}
            {entry.kind === 'message' && index === entries.length - 1 && finishedUsage && <Usage usage={finishedUsage} />}
            {entry.kind === 'sent' && <UserText text={entry.text} files={entry.files} />}
            {entry.kind === 'turn' && <Turn taskId={id} turn={entry.turn} onError={setError} />}
          </li>
        ))}
      </ol>
      <ErrorNote error={error} />
      <FollowUp
        taskId={id}
        disabled={executing}
        onSent={(text, files) => {
          setFinishedUsage(null);
          setEntries((list) => [...list, { kind: 'sent', text, files }]);
          onChange();
          void follow(true);
        }}
      />
    </div>
  );
}

function UserText({ text, files }: { text: string; files: string[] }) {
  return (
    <>
      <p class="role">You</p>
      <p class="user-text">{text}</p>
      {files.length > 0 && <p class="muted small">Attached: {files.join(', ')}</p>}
    </>
  );
}

function HistoryMessage({ message }: { message: Message }) {
  if (message.role === 'user') return <UserText text={message.content} files={(message.attachedFiles ?? []).map((f) => f.path)} />;
  return (
    <>
      <p class="role">Agent</p>
      <Thoughts thoughts={message.thoughts ?? []} />
      {(message.toolCalls ?? []).map((call) => (
        <ToolCall key={call.callId} call={{ ...call, args: call.args, output: call.output, startedAt: undefined, endedAt: undefined }} />
      ))}
      <Markdown text={message.content} label="Answer" />
    </>
  );
}

function Thoughts({ thoughts }: { thoughts: { subject: string; description: string }[] }) {
  if (thoughts.length === 0) return null;
  return (
    <details class="thoughts">
      <summary>Thoughts ({thoughts.length})</summary>
      {thoughts.map((t, i) => (
        <p key={i}><strong>{t.subject}</strong> {t.description}</p>
      ))}
    </details>
  );
}

function Turn({ taskId, turn, onError }: { taskId: string; turn: TurnState; onError: (error: string) => void }) {
  return (
    <>
      <p class="role">Agent {turn.ending === null && <span class="muted small">{turn.status === 'awaiting_approval' ? '(waiting for you)' : '(working…)'}</span>}</p>
      <Thoughts thoughts={turn.thoughts} />
      {turn.calls.map((call) => (
        <ToolCall key={call.callId} call={call}>
          {call.status === 'awaiting_approval' && <Approval taskId={taskId} call={call} onError={onError} />}
        </ToolCall>
      ))}
      {turn.content && <Markdown text={turn.content} label="Answer" />}
      {turn.ending?.kind === 'error' && <p class="error" role="alert">The turn failed: {turn.ending.message}</p>}
      {turn.ending?.kind === 'cancelled' && <p class="notice">Cancelled: {turn.ending.message}</p>}
      {turn.usage && <Usage usage={turn.usage} />}
    </>
  );
}

function Usage({ usage }: { usage: TokenUsage }) {
  return (
    <p class="usage muted small">
      {tokens(usage.inputTokens)} in · {tokens(usage.outputTokens)} out · {tokens(usage.totalTokens)} tokens
    </p>
  );
}

function ToolCall({ call, children }: { call: ToolCallState; children?: preact.ComponentChildren }) {
  const duration = call.startedAt !== undefined && call.endedAt !== undefined && call.endedAt > call.startedAt ? call.endedAt - call.startedAt : undefined;
  return (
    <div class="tool-call" data-call-id={call.callId} data-status={call.status}>
      <div class="tool-head">
        <code class="tool-name">{call.toolName}</code>
        <StatusBadge status={call.status} />
        {duration !== undefined && <span class="muted small">{duration < 1000 ? `${duration} ms` : `${(duration / 1000).toFixed(1)} s`}</span>}
      </div>
      {call.args && (
        <details open={call.status === 'awaiting_approval'}>
          <summary>Arguments</summary>
          <pre class="args">{JSON.stringify(call.args, null, 2)}</pre>
        </details>
      )}
      {call.output !== undefined && (
        <details>
          <summary>Result</summary>
          <pre class="output">{call.output}</pre>
        </details>
      )}
      {children}
    </div>
  );
}

function Approval({ taskId, call, onError }: { taskId: string; call: ToolCallState; onError: (error: string) => void }) {
  const [busy, setBusy] = useState(false);
  const decide = async (outcome: 'once' | 'always' | 'cancel') => {
    setBusy(true);
    try {
      await kiln.tasks.approve(taskId, call.callId, outcome);
    } catch (err) {
      onError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <div class="approval" role="group" aria-label={`Approve ${call.toolName}`}>
      <p>The agent wants to run <code>{call.toolName}</code>.</p>
      <button type="button" class="primary" disabled={busy} onClick={() => decide('once')}>Run once</button>
      <button type="button" disabled={busy} onClick={() => decide('always')}>Always allow {call.toolName}</button>
      <button type="button" class="danger" disabled={busy} onClick={() => decide('cancel')}>Cancel call</button>
    </div>
  );
}

function FollowUp({ taskId, disabled, onSent }: { taskId: string; disabled: boolean; onSent: (text: string, files: string[]) => void }) {
  const [text, setText] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const send = async (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    setError(null);
    try {
      await kiln.tasks.send(taskId, { message: text, ...(files.length > 0 ? { files, onUploadProgress: setProgress } : {}) });
      onSent(text, files.map((f) => f.name));
      setText('');
      setFiles([]);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
      setProgress(null);
    }
  };
  return (
    <form class="follow-up stack" onSubmit={send} aria-label="Send a follow-up">
      <label for="follow-up-text">Follow-up</label>
      <textarea id="follow-up-text" rows={3} value={text} disabled={busy} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send(e);
        }} />
      <FilePicker id="follow-up-files" files={files} onChange={setFiles} />
      <UploadProgress progress={progress} />
      <ErrorNote error={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={disabled || busy || !text.trim()}>Send</button>
        {disabled && <span class="muted small">You can send when the agent's turn ends.</span>}
      </div>
    </form>
  );
}
