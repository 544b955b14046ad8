// The standalone Import Hub: reads config.json beside index.html (API URL and, in AWS, the
// OpenID Connect provider); without it, the API is this origin and sign-in is the dev server's.
import { StrictMode, useState } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { ApiClient } from './api/client';
import { clearDevSession, loadDevSession, type DevSession } from './auth/devAuth';
import { loadStandaloneConfig } from './config';
import { mountImportHub } from './embed';
import { DevSignIn } from './pages/SignIn';
import './styles.css';

const BASE = import.meta.env.BASE_URL;

function DevGate({ apiBaseUrl, root, element }: { apiBaseUrl: string; root: Root; element: Element }) {
  const [session] = useState<DevSession | null>(loadDevSession);
  if (!session) {
    return (
      <DevSignIn
        api={new ApiClient(apiBaseUrl, () => null)}
        onSignedIn={(s) => {
          root.unmount();
          startDev(element, apiBaseUrl, s);
        }}
      />
    );
  }
  return null;
}

function startDev(element: Element, apiBaseUrl: string, session: DevSession) {
  const signOut = () => {
    clearDevSession();
    window.location.assign(BASE);
  };
  mountImportHub(element, {
    apiBaseUrl,
    getToken: () => session.token,
    basename: BASE,
    auth: { userName: session.name, signOut, onUnauthorized: signOut },
  });
}

async function start() {
  const element = document.getElementById('root');
  if (!element) return;
  const config = await loadStandaloneConfig();
  const apiBaseUrl = config.apiBaseUrl ?? '';
  if (config.oidc) {
    const { startOidc } = await import('./auth/oidc');
    const session = await startOidc(config.oidc, BASE);
    if (!session.user) {
      await session.signIn();
      return;
    }
    mountImportHub(element, {
      apiBaseUrl,
      getToken: session.getToken,
      basename: BASE,
      auth: {
        userName: session.user.profile.email ?? session.user.profile.sub,
        signOut: () => void session.signOut(),
        onUnauthorized: () => void session.signIn(),
      },
    });
    return;
  }
  const session = loadDevSession();
  if (session) {
    startDev(element, apiBaseUrl, session);
    return;
  }
  const root = createRoot(element);
  root.render(
    <StrictMode>
      <DevGate apiBaseUrl={apiBaseUrl} root={root} element={element} />
    </StrictMode>,
  );
}

void start();
