// Who the page is signed in as. The bearer credential lives in sessionStorage only: it dies with the
// tab, is never put in a URL, and is never a cookie, so there is no ambient authority to forge
// requests with (no CSRF surface). Sign-out forgets it.

export interface Session {
  kind: 'token' | 'oauth';
  accessToken: string;
  /** OAuth only: for a new access token when this one expires. */
  refreshToken?: string | undefined;
  tokenEndpoint?: string | undefined;
  clientId?: string | undefined;
  resource?: string | undefined;
}

const KEY = 'claude-async.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const value = JSON.parse(raw) as Partial<Session>;
    if ((value.kind !== 'token' && value.kind !== 'oauth') || typeof value.accessToken !== 'string' || !value.accessToken) return null;
    return value as Session;
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function forgetSession(): void {
  sessionStorage.removeItem(KEY);
}
