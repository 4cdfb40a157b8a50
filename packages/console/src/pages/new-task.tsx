import type { Agent, ToolPolicy, UploadProgress as Progress } from '@kiln/sdk';
import { useEffect, useState } from 'preact/hooks';
import { errorText, kiln } from '../api.js';
import { EnvEditor, envObject, type EnvRow } from '../components/env-editor.js';
import { FilePicker, UploadProgress } from '../components/file-picker.js';
import { PolicyEditor } from '../components/policy-editor.js';
import { ErrorNote } from '../components/status.js';
import { go } from '../router.js';

export function NewTaskPage({ agentId }: { agentId: string | null }) {
  const [agents, setAgents] = useState<Agent[]>([]);
  const [message, setMessage] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  const [systemPrompt, setSystemPrompt] = useState('');
  const [agent, setAgent] = useState(agentId ?? '');
  const [autoExecute, setAutoExecute] = useState<'' | 'true' | 'false'>('');
  const [policy, setPolicy] = useState<ToolPolicy>({});
  const [env, setEnv] = useState<EnvRow[]>([]);
  const [secrets, setSecrets] = useState<EnvRow[]>([]);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    kiln.agents.list().then(setAgents, (err) => setError(errorText(err)));
  }, []);

  const jsonOnly = envObject(env) || envObject(secrets) || Object.keys(policy).length > 0;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (files.length > 0 && jsonOnly) {
      setError('Files cannot go with environment variables, secrets or a tool policy (Kiln takes those only as JSON): remove the files and send them in a follow-up, or remove the others.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const { id } = await kiln.tasks.create({
        message,
        ...(files.length > 0 ? { files, onUploadProgress: setProgress } : {}),
        ...(systemPrompt.trim() ? { systemPrompt } : {}),
        ...(agent ? { agentId: agent } : {}),
        ...(autoExecute ? { autoExecute: autoExecute === 'true' } : {}),
        ...(Object.keys(policy).length > 0 ? { toolPolicy: policy } : {}),
        ...(envObject(env) ? { env: envObject(env) } : {}),
        ...(envObject(secrets) ? { secrets: envObject(secrets) } : {}),
      });
      setSecrets([]);
      go(`tasks/${id}`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
      setProgress(null);
    }
  };

  return (
    <section aria-labelledby="new-task-title">
      <h1 id="new-task-title">New task</h1>
      <form class="stack" onSubmit={submit}>
        <label for="task-message">Message</label>
        <textarea id="task-message" rows={6} required value={message} onInput={(e) => setMessage((e.target as HTMLTextAreaElement).value)} />
        <FilePicker id="task-files" files={files} onChange={setFiles} />
        <UploadProgress progress={progress} />
        <details>
          <summary>Settings</summary>
          <div class="stack">
            <label for="task-agent">Agent</label>
            <select id="task-agent" value={agent} onChange={(e) => setAgent((e.target as HTMLSelectElement).value)}>
              <option value="">Default agent</option>
              {agents.map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}
            </select>
            <label for="task-system">System prompt</label>
            <textarea id="task-system" rows={3} value={systemPrompt} onInput={(e) => setSystemPrompt((e.target as HTMLTextAreaElement).value)} />
            <label for="task-auto">Tool calls</label>
            <select id="task-auto" value={autoExecute} onChange={(e) => setAutoExecute((e.target as HTMLSelectElement).value as '' | 'true' | 'false')}>
              <option value="">As the agent says</option>
              <option value="true">Run without asking (autoExecute)</option>
              <option value="false">Ask before each call</option>
            </select>
            <PolicyEditor idPrefix="task-policy" value={policy} onChange={setPolicy} />
            <EnvEditor idPrefix="task-env" legend="Environment" rows={env} onChange={setEnv} />
            <EnvEditor idPrefix="task-secret" legend="Secrets" secret rows={secrets} onChange={setSecrets} />
          </div>
        </details>
        <ErrorNote error={error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>Start task</button>
          <a class="button" href="#/tasks">Back</a>
        </div>
      </form>
    </section>
  );
}
