// Signing in on the dev server: a token from `POST /dev/token`, kept for this tab only.

const KEY = 'callsync.devToken';

export interface DevSession {
  token: string;
  name: string;
  workspace?: string;
  role?: string;
}

export function loadDevSession(): DevSession | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as DevSession;
    if (!session.token || tokenExpired(session.token)) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return session;
  } catch {
    return null;
  }
}

export function saveDevSession(session: DevSession): void {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearDevSession(): void {
  sessionStorage.removeItem(KEY);
}

/** Reads a JWT's `exp` without verifying it (the server verifies); true when past. */
export function tokenExpired(token: string, now = Date.now()): boolean {
  try {
    const payload = token.split('.')[1];
    if (!payload) return true;
    const json = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: number };
    return typeof json.exp === 'number' && json.exp * 1000 <= now;
  } catch {
    return true;
  }
}
