import type { Session } from '@kiln/sdk';
import { useState } from 'preact/hooks';
import { errorText, kiln } from '../api.js';
import { ErrorNote } from '../components/status.js';

/** Sign-in with an API key, exchanged at once for a session cookie; the key is not kept by the page. */
export function SignIn({ onSignedIn }: { onSignedIn: (me: Session) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const me = await kiln.session.signIn(key.trim());
      setKey('');
      onSignedIn(me);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in" id="main">
      <h1>Kiln Console</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label for="api-key">API key</label>
        <input id="api-key" type="password" autoComplete="off" spellcheck={false} placeholder="kiln_…" value={key} required
          onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
        <p class="muted">Create one with <code>kiln keys create --user NAME</code>. The key is exchanged for a session; this page does not keep it.</p>
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy}>Sign in</button>
      </form>
    </main>
  );
}
