import type { TaskListItem, TaskStatus } from '@kiln/sdk';
import { useEffect, useRef, useState } from 'preact/hooks';
import { TASK_STATUSES, errorText, isAbort, kiln } from '../api.js';
import { ErrorNote, StatusBadge } from '../components/status.js';
import { statusLabel, when } from '../format.js';

const PAGE_SIZE = 50;
/** The list is read again this often while the page is visible: one indexed query per poll. */
const POLL_MS = 3000;

/** The caller's tasks, newest activity first: filtered on the server, paged by offset, kept live by polling. */
export function TasksPage() {
  const [status, setStatus] = useState<TaskStatus | ''>('');
  const [text, setText] = useState('');
  const [query, setQuery] = useState('');
  const [offset, setOffset] = useState(0);
  const [tasks, setTasks] = useState<TaskListItem[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const typing = useRef<ReturnType<typeof setTimeout>>();

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let controller: AbortController | undefined;
    const load = async () => {
      controller = new AbortController();
      try {
        const page = await kiln.tasks.list({ limit: PAGE_SIZE, offset, ...(status ? { status } : {}), ...(query ? { q: query } : {}), signal: controller.signal });
        if (stopped) return;
        setTasks(page.tasks);
        setTotal(page.pagination.total);
        setError(null);
      } catch (err) {
        if (!stopped && !isAbort(err)) setError(errorText(err));
      }
      if (!stopped) timer = setTimeout(tick, POLL_MS);
    };
    const tick = () => {
      if (document.hidden) timer = setTimeout(tick, POLL_MS);
      else void load();
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
      controller?.abort();
    };
  }, [status, query, offset]);

  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const page = Math.floor(offset / PAGE_SIZE) + 1;
  const goTo = (n: number) => setOffset((Math.min(Math.max(n, 1), pages) - 1) * PAGE_SIZE);

  return (
    <section aria-labelledby="tasks-title">
      <div class="title-row">
        <h1 id="tasks-title">Tasks</h1>
        <a class="button primary" href="#/tasks/new">New task</a>
      </div>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={status} onChange={(e) => {
            setStatus((e.target as HTMLSelectElement).value as TaskStatus | '');
            setOffset(0);
          }}>
            <option value="">Any</option>
            {TASK_STATUSES.map((s) => <option key={s} value={s}>{statusLabel(s)}</option>)}
          </select>
        </label>
        <label>
          Search
          <input type="search" value={text} placeholder="Text in the message, or an id" onInput={(e) => {
            const value = (e.target as HTMLInputElement).value;
            setText(value);
            clearTimeout(typing.current);
            typing.current = setTimeout(() => {
              setQuery(value.trim());
              setOffset(0);
            }, 300);
          }} />
        </label>
      </form>
      <ErrorNote error={error} />
      {tasks === null ? <p class="muted">Loading…</p> : tasks.length === 0 ? <p class="muted">No tasks{status || query ? ' match' : ' yet'}.</p> : (
        <div class="table-wrap">
          <table class="tasks">
            <thead>
              <tr><th scope="col">Status</th><th scope="col">Message</th><th scope="col">Last activity</th><th scope="col">Messages</th></tr>
            </thead>
            <tbody>
              {tasks.map((task) => (
                <tr key={task.id} data-task-id={task.id}>
                  <td><StatusBadge status={task.status} /></td>
                  <td class="message"><a href={`#/tasks/${task.id}`}>{firstLine(task.message)}</a></td>
                  <td title={task.lastActivityAt}>{when(task.lastActivityAt)}</td>
                  <td>{task.messageCount}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" onClick={() => goTo(1)} disabled={page <= 1}>First</button>
        <button type="button" onClick={() => goTo(page - 1)} disabled={page <= 1}>Previous</button>
        <label>
          Page <input type="number" min={1} max={pages} value={page} onChange={(e) => goTo(Number((e.target as HTMLInputElement).value) || 1)} /> of {pages}
        </label>
        <button type="button" onClick={() => goTo(page + 1)} disabled={page >= pages}>Next</button>
        <button type="button" onClick={() => goTo(pages)} disabled={page >= pages}>Last</button>
        <span class="muted">{total.toLocaleString()} tasks</span>
      </nav>
    </section>
  );
}

function firstLine(message: string): string {
  const line = message.split('\n', 1)[0] ?? '';
  return line.length > 140 ? `${line.slice(0, 140)}…` : line || '(empty)';
}
