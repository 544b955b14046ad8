import { beforeEach, expect, test, vi } from 'vitest';

const manager = {
  getUser: vi.fn(),
  signinRedirect: vi.fn(),
  signinRedirectCallback: vi.fn(),
  signoutRedirect: vi.fn(),
  settings: undefined as unknown,
};

vi.mock('oidc-client-ts', () => ({
  UserManager: vi.fn(function (this: unknown, settings: unknown) {
    manager.settings = settings;
    return manager;
  }),
  WebStorageStateStore: vi.fn(),
}));

const { startOidc } = await import('./oidc');

const user = (overrides = {}) => ({ access_token: 'at', id_token: 'it', expired: false, state: '/calls?q=x', profile: { sub: 'u1' }, ...overrides });

beforeEach(() => {
  vi.clearAllMocks();
  window.history.replaceState(null, '', '/');
});

test('signs in with the authorization code flow (PKCE) and returns to where the user was', async () => {
  manager.getUser.mockResolvedValue(null);
  window.history.replaceState(null, '', '/calls?q=x');
  const session = await startOidc({ authority: 'https://id.example.com', clientId: 'hub' }, '/');
  expect(session.user).toBeNull();
  expect(manager.settings).toMatchObject({
    authority: 'https://id.example.com',
    client_id: 'hub',
    response_type: 'code',
    redirect_uri: `${window.location.origin}/auth/callback`,
  });
  await session.signIn();
  expect(manager.signinRedirect).toHaveBeenCalledWith({ state: '/calls?q=x' });
});

test('the callback finishes signing in, goes back, and the access token is the bearer token', async () => {
  window.history.replaceState(null, '', '/auth/callback?code=c&state=s');
  manager.signinRedirectCallback.mockResolvedValue(user());
  manager.getUser.mockResolvedValue(user());
  const session = await startOidc({ authority: 'https://id.example.com', clientId: 'hub' }, '/');
  expect(window.location.pathname + window.location.search).toBe('/calls?q=x');
  expect(await session.getToken()).toBe('at');
  manager.getUser.mockResolvedValue(user({ expired: true }));
  expect(await session.getToken()).toBeNull();
});
