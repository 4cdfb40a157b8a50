import type { Agent, ToolPolicy } from '@kiln/sdk';
import { useEffect, useState } from 'preact/hooks';
import { errorText, kiln } from '../api.js';
import { PolicyEditor } from '../components/policy-editor.js';
import { ErrorNote } from '../components/status.js';

interface Draft {
  name: string;
  systemPrompt: string;
  model: string;
  autoExecute: boolean;
  toolPolicy: ToolPolicy;
}

const EMPTY: Draft = { name: '', systemPrompt: '', model: '', autoExecute: true, toolPolicy: {} };

function draftOf(agent: Agent): Draft {
  return { name: agent.name, systemPrompt: agent.systemPrompt ?? '', model: agent.model ?? '', autoExecute: agent.autoExecute, toolPolicy: agent.toolPolicy ?? {} };
}

export function AgentsPage() {
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [editing, setEditing] = useState<string | 'new' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => kiln.agents.list().then(setAgents, (err) => setError(errorText(err)));
  useEffect(() => void load(), []);
  return (
    <section aria-labelledby="agents-title">
      <div class="title-row">
        <h1 id="agents-title">Agents</h1>
        <button type="button" class="primary" onClick={() => setEditing('new')}>New agent</button>
      </div>
      <ErrorNote error={error} />
      {editing === 'new' && <AgentForm draft={EMPTY} onDone={() => { setEditing(null); void load(); }} />}
      {agents === null ? <p class="muted">Loading…</p> : (
        <ul class="cards">
          {agents.map((agent) => (
            <li key={agent.id} class="card" data-agent-id={agent.id}>
              {editing === agent.id ? (
                <AgentForm id={agent.id} draft={draftOf(agent)} onDone={() => { setEditing(null); void load(); }} />
              ) : (
                <>
                  <h2>{agent.name}{agent.isDefault && <span class="badge">default</span>}</h2>
                  <p class="muted small">Model: {agent.model ?? 'server default'} · {agent.autoExecute ? 'runs tools without asking' : 'asks before each tool call'}</p>
                  {agent.systemPrompt && <p class="prompt">{agent.systemPrompt}</p>}
                  <div class="actions">
                    <button type="button" onClick={() => setEditing(agent.id)} aria-label={`Edit ${agent.name}`}>Edit</button>
                    <a class="button" href={`#/tasks/new?agent=${encodeURIComponent(agent.id)}`}>Start a task as {agent.name}</a>
                  </div>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function AgentForm({ id, draft, onDone }: { id?: string; draft: Draft; onDone: () => void }) {
  const [value, setValue] = useState(draft);
  const [error, setError] = useState<string | null>(null);
  const prefix = id ? `agent-${id}` : 'agent-new';
  const save = async (e: Event) => {
    e.preventDefault();
    const settings = {
      name: value.name,
      systemPrompt: value.systemPrompt.trim() ? value.systemPrompt : null,
      model: value.model.trim() ? value.model.trim() : null,
      autoExecute: value.autoExecute,
      toolPolicy: Object.keys(value.toolPolicy).length > 0 ? value.toolPolicy : null,
    };
    try {
      if (id) await kiln.agents.update(id, settings);
      else await kiln.agents.create(settings);
      onDone();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <form class="stack agent-form" onSubmit={save} aria-label={id ? `Edit agent ${draft.name}` : 'New agent'}>
      <label for={`${prefix}-name`}>Name</label>
      <input id={`${prefix}-name`} required value={value.name} onInput={(e) => setValue({ ...value, name: (e.target as HTMLInputElement).value })} />
      <label for={`${prefix}-prompt`}>System prompt</label>
      <textarea id={`${prefix}-prompt`} rows={4} value={value.systemPrompt} onInput={(e) => setValue({ ...value, systemPrompt: (e.target as HTMLTextAreaElement).value })} />
      <label for={`${prefix}-model`}>Model</label>
      <input id={`${prefix}-model`} placeholder="provider:model (empty: the server's default)" value={value.model} onInput={(e) => setValue({ ...value, model: (e.target as HTMLInputElement).value })} />
      <label class="check">
        <input type="checkbox" checked={value.autoExecute} onChange={(e) => setValue({ ...value, autoExecute: (e.target as HTMLInputElement).checked })} />
        Run tools without asking (autoExecute)
      </label>
      <PolicyEditor idPrefix={`${prefix}-policy`} value={value.toolPolicy} onChange={(toolPolicy) => setValue({ ...value, toolPolicy })} />
      <ErrorNote error={error} />
      <div class="actions">
        <button type="submit" class="primary">Save</button>
        <button type="button" onClick={onDone}>Cancel</button>
      </div>
    </form>
  );
}
