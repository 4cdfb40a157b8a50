import type { Session } from '@kiln/sdk';
import { useEffect, useState } from 'preact/hooks';
import { SIGNED_OUT, errorText, kiln } from './api.js';
import { AgentsPage } from './pages/agents.js';
import { KeysPage } from './pages/keys.js';
import { NewTaskPage } from './pages/new-task.js';
import { SignIn } from './pages/sign-in.js';
import { TaskPage } from './pages/task.js';
import { TasksPage } from './pages/tasks.js';
import { UsagePage } from './pages/usage.js';
import { useRoute } from './router.js';

const SECTIONS = [
  { path: 'tasks', label: 'Tasks' },
  { path: 'agents', label: 'Agents' },
  { path: 'keys', label: 'Keys' },
  { path: 'usage', label: 'Usage' },
] as const;

export function App() {
  const [me, setMe] = useState<Session | null | undefined>(undefined);
  useEffect(() => {
    kiln.session.current().then(setMe, () => setMe(null));
    const signedOut = () => setMe(null);
    window.addEventListener(SIGNED_OUT, signedOut);
    return () => window.removeEventListener(SIGNED_OUT, signedOut);
  }, []);
  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) return <SignIn onSignedIn={setMe} />;
  return <Shell me={me} onSignedOut={() => setMe(null)} />;
}

function Shell({ me, onSignedOut }: { me: Session; onSignedOut: () => void }) {
  const route = useRoute();
  const section = route.parts[0] ?? 'tasks';
  const signOut = async () => {
    try {
      await kiln.session.signOut();
    } catch (error) {
      errorText(error);
    }
    onSignedOut();
  };
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <a class="brand" href="#/tasks">Kiln Console</a>
        <nav aria-label="Sections">
          {SECTIONS.map((s) => (
            <a key={s.path} href={`#/${s.path}`} aria-current={section === s.path ? 'page' : undefined}>
              {s.label}
            </a>
          ))}
        </nav>
        <div class="who">
          <span title={me.admin ? 'admin key' : 'key'}>{me.username}{me.admin ? ' (admin)' : ''}</span>
          <button type="button" onClick={signOut}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route.parts} query={route.query} me={me} />
      </main>
    </>
  );
}

function Page({ route, query, me }: { route: string[]; query: URLSearchParams; me: Session }) {
  const [section = 'tasks', id, sub] = route;
  switch (section) {
    case 'tasks':
      if (id === 'new') return <NewTaskPage agentId={query.get('agent')} />;
      if (id) return <TaskPage key={id} id={id} tab={sub === 'files' ? 'files' : 'conversation'} />;
      return <TasksPage />;
    case 'agents':
      return <AgentsPage />;
    case 'keys':
      return <KeysPage me={me} />;
    case 'usage':
      return <UsagePage />;
    default:
      return <p>No such page. <a href="#/tasks">Go to tasks</a>.</p>;
  }
}
