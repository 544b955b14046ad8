import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { ApiClient } from './api/client';
import { ImportHub } from './App';
import type { AuthControls } from './context';
import type { HubOptions } from './config';
import './styles.css';

export type { HubOptions } from './config';

/**
 * Renders the Import Hub into `element` of a host app. The API's base URL and a function that
 * returns the signed-in user's bearer token are all it needs. Returns a handle to unmount it.
 */
export function mountImportHub(element: Element, options: HubOptions & { auth?: AuthControls }) {
  const api = new ApiClient(options.apiBaseUrl, options.getToken);
  const root = createRoot(element);
  root.render(
    <StrictMode>
      <BrowserRouter basename={options.basename ?? '/'}>
        <ImportHub api={api} auth={options.auth} />
      </BrowserRouter>
    </StrictMode>,
  );
  return { unmount: () => root.unmount() };
}
