// Signing in against an OpenID Connect provider (authorization code + PKCE) with
// oidc-client-ts; loaded only when config.json names a provider.
import { UserManager, WebStorageStateStore, type User } from 'oidc-client-ts';

export interface OidcSettings {
  authority: string;
  clientId: string;
  scope?: string;
  /** Send the ID token instead of the access token (providers whose access tokens are opaque). */
  useIdToken?: boolean;
}

export interface OidcSession {
  getToken: () => Promise<string | null>;
  user: User | null;
  signIn: () => Promise<void>;
  signOut: () => Promise<void>;
}

const CALLBACK_PATH = '/auth/callback';

export async function startOidc(settings: OidcSettings, basePath: string): Promise<OidcSession> {
  const origin = window.location.origin;
  const base = basePath.replace(/\/+$/, '');
  const manager = new UserManager({
    authority: settings.authority,
    client_id: settings.clientId,
    redirect_uri: `${origin}${base}${CALLBACK_PATH}`,
    post_logout_redirect_uri: `${origin}${base}/`,
    response_type: 'code',
    scope: settings.scope ?? 'openid profile email',
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    automaticSilentRenew: true,
  });
  let user: User | null;
  if (window.location.pathname === `${base}${CALLBACK_PATH}`) {
    user = await manager.signinRedirectCallback();
    const back = typeof user.state === 'string' ? user.state : `${base}/`;
    window.history.replaceState(null, '', back);
  } else {
    user = await manager.getUser();
  }
  const token = (u: User | null) => (u && !u.expired ? (settings.useIdToken ? u.id_token ?? null : u.access_token) : null);
  return {
    user,
    getToken: async () => token(await manager.getUser()),
    signIn: () =>
      manager.signinRedirect({ state: window.location.pathname + window.location.search }),
    signOut: () => manager.signoutRedirect(),
  };
}
