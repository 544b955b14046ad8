import { useState, type FormEvent } from 'react';
import type { ApiClient } from '../api/client';
import { saveDevSession, type DevSession } from '../auth/devAuth';

/** The dev server's sign-in: any name, optionally a workspace and a role in it. */
export function DevSignIn({ api, onSignedIn }: { api: ApiClient; onSignedIn: (session: DevSession) => void }) {
  const [name, setName] = useState('');
  const [workspace, setWorkspace] = useState('');
  const [role, setRole] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { token } = await api.devToken(name.trim(), workspace.trim(), workspace.trim() ? role || 'member' : role);
      const session = { token, name: name.trim(), workspace: workspace.trim() || undefined, role: role || undefined };
      saveDevSession(session);
      onSignedIn(session);
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Signing in failed.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="hub signin">
      <form onSubmit={submit} className="panel signin-form" aria-labelledby="signin-h">
        <h1 id="signin-h">Import Hub</h1>
        <p className="muted">Local development sign-in: pick any name; it becomes your user id.</p>
        <label className="field">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} required autoFocus autoComplete="username" pattern="\S+" title="No spaces" />
        </label>
        <label className="field">
          <span>Workspace (optional)</span>
          <input value={workspace} onChange={(e) => setWorkspace(e.target.value)} />
        </label>
        <label className="field">
          <span>Role (optional)</span>
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="">—</option>
            <option value="member">Member</option>
            <option value="admin">Admin</option>
          </select>
        </label>
        {error && (
          <p className="error-text" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="button primary" disabled={busy || !name.trim()}>
          Continue as {name.trim() || '…'}
        </button>
      </form>
    </main>
  );
}
