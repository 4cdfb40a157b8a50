import type { ApiKey, Session, User } from '@kiln/sdk';
import { useEffect, useState } from 'preact/hooks';
import { errorText, kiln } from '../api.js';
import { ErrorNote } from '../components/status.js';
import { when } from '../format.js';

/** API keys: a user's own; an admin's, any user's. A new key is shown once, never again. */
export function KeysPage({ me }: { me: Session }) {
  const [users, setUsers] = useState<User[]>([]);
  const [userId, setUserId] = useState(me.userId);
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [admin, setAdmin] = useState(false);
  const [newUser, setNewUser] = useState('');
  const [error, setError] = useState<string | null>(null);

  const load = () => {
    kiln.keys.list(userId === me.userId ? {} : { userId }).then(setKeys, (err) => setError(errorText(err)));
    if (me.admin) kiln.users.list().then(setUsers, (err) => setError(errorText(err)));
  };
  useEffect(load, [userId]);

  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const owner = newUser.trim() || (userId === me.userId ? undefined : userId);
      const key = await kiln.keys.create({ ...(name.trim() ? { name: name.trim() } : {}), ...(owner ? { userId: owner } : {}), ...(admin ? { admin } : {}) });
      setCreated(key.key);
      setName('');
      setNewUser('');
      setAdmin(false);
      if (owner && owner !== userId) setUserId(key.userId);
      else load();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const revoke = async (key: ApiKey) => {
    if (!window.confirm(`Revoke the key ${key.name ?? key.id}? Requests with it are refused from now on${key.id === me.apiKeyId ? ', and this session ends' : ''}.`)) return;
    try {
      await kiln.keys.revoke(key.id);
      load();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const userName = (id: string) => users.find((u) => u.id === id)?.name ?? (id === me.userId ? me.username : id);

  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      <ErrorNote error={error} />
      {me.admin && (
        <div class="table-wrap">
          <table aria-label="Users">
            <thead><tr><th scope="col">User</th><th scope="col">Keys</th><th scope="col">Since</th><th scope="col"><span class="visually-hidden">Show</span></th></tr></thead>
            <tbody>
              {users.map((user) => (
                <tr key={user.id} aria-current={user.id === userId ? 'true' : undefined}>
                  <td>{user.name}</td><td>{user.keyCount}</td><td>{when(user.createdAt)}</td>
                  <td><button type="button" class="link" onClick={() => setUserId(user.id)} aria-label={`Show keys of ${user.name}`}>Show keys</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Keys of {userName(userId)}</h2>
      {keys === null ? <p class="muted">Loading…</p> : (
        <div class="table-wrap">
          <table aria-label="Keys">
            <thead><tr><th scope="col">Name</th><th scope="col">Admin</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Revoke</span></th></tr></thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id} data-key-id={key.id}>
                  <td>{key.name ?? <span class="muted">unnamed</span>}{key.id === me.apiKeyId && <span class="badge">this session</span>}</td>
                  <td>{key.admin ? 'yes' : 'no'}</td>
                  <td>{when(key.createdAt)}</td>
                  <td>{when(key.lastUsedAt)}</td>
                  <td><button type="button" class="danger" onClick={() => revoke(key)} aria-label={`Revoke ${key.name ?? key.id}`}>Revoke</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form class="stack narrow" onSubmit={create} aria-label="New key">
        <h2>New key</h2>
        <label for="key-name">Key name</label>
        <input id="key-name" value={name} placeholder="laptop" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        {me.admin && (
          <>
            <label for="key-user">For a new user (name)</label>
            <input id="key-user" value={newUser} placeholder={`empty: ${userName(userId)}`} onInput={(e) => setNewUser((e.target as HTMLInputElement).value)} />
            <label class="check"><input type="checkbox" checked={admin} onChange={(e) => setAdmin((e.target as HTMLInputElement).checked)} /> Admin key</label>
          </>
        )}
        <button type="submit" class="primary">Create key</button>
      </form>
      {created && (
        <div class="notice" role="status">
          <label for="created-key">The new key, shown this once:</label>
          <input id="created-key" class="link-field" readOnly value={created} onFocus={(e) => (e.target as HTMLInputElement).select()} />
          <button type="button" onClick={() => { void navigator.clipboard?.writeText(created); }}>Copy</button>
          <button type="button" class="link" onClick={() => setCreated(null)}>Done</button>
        </div>
      )}
    </section>
  );
}
