import { screen } from '@testing-library/react';
import { expect, test, vi } from 'vitest';
import { mockApi, renderWithHub } from '../test/harness';
import { ApiReferencePage } from './ApiReferencePage';

// The real viewer (Scalar) is exercised in the browser tests; here it shows what it was given.
vi.mock('./ApiViewer', () => ({
  ApiViewer: ({ spec }: { spec: { paths: Record<string, unknown> } }) => (
    <ul data-testid="api-viewer">
      {Object.keys(spec.paths).map((path) => (
        <li key={path}>{path}</li>
      ))}
    </ul>
  ),
}));

test("shows the served contract's title and hands the document to the viewer, without a token", async () => {
  const { calls } = mockApi({
    'GET /openapi.json': {
      body: { openapi: '3.1.0', info: { title: 'callsync API', version: '0.1.0' }, paths: { '/sources': {}, '/sync': {} } },
    },
  });
  renderWithHub(<ApiReferencePage />, { path: '/api' });
  expect(await screen.findByRole('heading', { name: 'callsync API' })).toBeInTheDocument();
  expect(await screen.findByText('/sync')).toBeInTheDocument();
  const call = calls.find((c) => c.path === '/openapi.json');
  expect(call?.headers.Authorization).toBeUndefined();
});

test('says so when the contract cannot be loaded', async () => {
  mockApi({});
  renderWithHub(<ApiReferencePage />, { path: '/api' });
  expect(await screen.findByRole('alert')).toHaveTextContent('could not be loaded');
});
