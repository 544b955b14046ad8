import { lazy, Suspense, useState, type ReactNode } from 'react';
import { NavLink, Route, Routes } from 'react-router';
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { Toaster } from 'sonner';
import { ApiError, type ApiClient } from './api/client';
import { HubContext, type AuthControls } from './context';
import { useDemo, useMe } from './hooks';
import { JobTrackerProvider } from './jobs';
import { UploadsProvider } from './uploads';
import { SourcesPage } from './pages/SourcesPage';
import { UploadPage } from './pages/UploadPage';
import { CallsPage } from './pages/CallsPage';

// Pages with heavier dependencies (markdown) load when first opened.
const MeetingPage = lazy(() => import('./pages/MeetingPage').then((m) => ({ default: m.MeetingPage })));
const TeamPage = lazy(() => import('./pages/TeamPage').then((m) => ({ default: m.TeamPage })));
// The API reference carries a whole viewer: it loads only when opened.
const ApiReferencePage = lazy(() =>
  import('./pages/ApiReferencePage').then((m) => ({ default: m.ApiReferencePage })),
);

export function createQueryClient(onUnauthorized?: () => void): QueryClient {
  const unauthorized = (error: unknown) => {
    if (error instanceof ApiError && error.status === 401) onUnauthorized?.();
  };
  return new QueryClient({
    queryCache: new QueryCache({ onError: unauthorized }),
    mutationCache: new MutationCache({ onError: unauthorized }),
    defaultOptions: {
      queries: {
        retry: (count, error) => !(error instanceof ApiError && error.status > 0 && error.status < 500) && count < 2,
        refetchOnWindowFocus: true,
        staleTime: 2000,
      },
    },
  });
}

function Header() {
  const { data: demo } = useDemo();
  const { data: me } = useMe();
  return (
    <header className="topbar">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <div className="brand">
        <span className="brand-mark" aria-hidden="true">
          ◆
        </span>{' '}
        Import Hub
        {demo?.demo && (
          <span className="badge demo" title="Fathom, Zoom and transcription are local stand-ins on this dev server">
            Demo providers
          </span>
        )}
      </div>
      <nav aria-label="Main">
        <NavLink to="/" end>
          Sources
        </NavLink>
        <NavLink to="/upload">Upload</NavLink>
        <NavLink to="/calls">Calls</NavLink>
        {me && !me.personal && <NavLink to="/team">Team</NavLink>}
        <NavLink to="/api">API reference</NavLink>
      </nav>
      <UserMenu />
    </header>
  );
}

function UserMenu() {
  const { data: me } = useMe();
  return (
    <HubContext.Consumer>
      {(hub) =>
        hub?.auth.userName || hub?.auth.signOut ? (
          <div className="user">
            <span>{hub.auth.userName ?? me?.user_id}</span>
            {hub.auth.signOut && (
              <button type="button" className="button subtle small" onClick={hub.auth.signOut}>
                Sign out
              </button>
            )}
          </div>
        ) : null
      }
    </HubContext.Consumer>
  );
}

function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <NavLink to="/">Back to sources</NavLink>
    </>
  );
}

export function Shell() {
  return (
    <div className="hub">
      <Header />
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p className="muted">Loading…</p>}>
          <Routes>
            <Route path="/" element={<SourcesPage />} />
            <Route path="/upload" element={<UploadPage />} />
            <Route path="/calls" element={<CallsPage />} />
            <Route path="/meetings/:id" element={<MeetingPage />} />
            <Route path="/team" element={<TeamPage />} />
            <Route path="/api" element={<ApiReferencePage />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </main>
    </div>
  );
}

/** Everything the hub's screens need around them: data, jobs, uploads, toasts. */
export function HubProviders({
  api,
  auth = {},
  queryClient,
  children,
}: {
  api: ApiClient;
  auth?: AuthControls;
  queryClient?: QueryClient;
  children: ReactNode;
}) {
  const [client] = useState(() => queryClient ?? createQueryClient(auth.onUnauthorized));
  const [hub] = useState(() => ({ api, auth }));
  return (
    <QueryClientProvider client={client}>
      <HubContext.Provider value={hub}>
        <JobTrackerProvider>
          <UploadsProvider>{children}</UploadsProvider>
        </JobTrackerProvider>
      </HubContext.Provider>
      <Toaster position="bottom-right" richColors closeButton />
    </QueryClientProvider>
  );
}

/** The whole hub, inside a router the caller provides. */
export function ImportHub(props: { api: ApiClient; auth?: AuthControls; queryClient?: QueryClient }) {
  return (
    <HubProviders {...props}>
      <Shell />
    </HubProviders>
  );
}
