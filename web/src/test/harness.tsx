// Rendering hub screens in jsdom with a mocked API: `fetch` answers from a route table and
// records every call.
import { render } from '@testing-library/react';
import { QueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { MemoryRouter, useLocation } from 'react-router';
import { vi } from 'vitest';
import { ApiClient } from '../api/client';
import { HubProviders } from '../App';

export interface Call {
  method: string;
  path: string;
  body: unknown;
  headers: Record<string, string>;
}

type Answer = { status?: number; body?: unknown } | ((call: Call) => { status?: number; body?: unknown });

/** Routes as `"GET /sources"` (query string ignored unless given) -> answer. Unknown: 404. */
export function mockApi(routes: Record<string, Answer>) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input), 'http://hub.test');
    const method = (init?.method ?? 'GET').toUpperCase();
    const call: Call = {
      method,
      path: url.pathname + url.search,
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
      headers: (init?.headers ?? {}) as Record<string, string>,
    };
    calls.push(call);
    const answer = routes[`${method} ${url.pathname}${url.search}`] ?? routes[`${method} ${url.pathname}`];
    const resolved = typeof answer === 'function' ? answer(call) : answer;
    const status = resolved?.status ?? (resolved ? 200 : 404);
    const body = resolved ? resolved.body : { error: { code: 'not_found', message: `there is no route ${method} ${url.pathname}` } };
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json' },
    });
  });
  vi.stubGlobal('fetch', fetchMock);
  return { calls, fetchMock };
}

export function LocationProbe() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname + location.search}</output>;
}

export function renderWithHub(ui: ReactNode, { path = '/' }: { path?: string } = {}) {
  const api = new ApiClient('', () => 'test-token');
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: 0 } } });
  return render(
    <MemoryRouter initialEntries={[path]}>
      <HubProviders api={api} queryClient={queryClient}>
        {ui}
        <LocationProbe />
      </HubProviders>
    </MemoryRouter>,
  );
}

export function job(overrides: Record<string, unknown> = {}) {
  return {
    id: 'job_1',
    kind: 'manual',
    source: 'fathom',
    status: 'running',
    progress: { current: 4, total: 12 },
    counts: { imported: 0, updated: 0, skipped: 0, failed: 0 },
    failed_items: [],
    skipped_items: [],
    summary: null,
    created_at: new Date().toISOString(),
    finished_at: null,
    ...overrides,
  };
}

export function source(overrides: Record<string, unknown> = {}) {
  return {
    source: 'fathom',
    connection_id: 'con_1',
    status: 'active',
    active: true,
    account_email: 'ana@example.com',
    last_sync_at: new Date().toISOString(),
    last_error: null,
    recording_count: 12,
    current_job: null,
    ...overrides,
  };
}
