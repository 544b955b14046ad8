import { act, screen } from '@testing-library/react';
import { expect, test } from 'vitest';
import { mountImportHub } from './embed';
import { mockApi, source } from './test/harness';

test('mounts into a host page element with only an API URL and a token function', async () => {
  const { calls } = mockApi({ 'GET /sources': { body: { items: [source()] } } });
  const host = document.createElement('div');
  document.body.append(host);
  let handle: { unmount: () => void } | undefined;
  await act(async () => {
    handle = mountImportHub(host, { apiBaseUrl: 'https://api.example.com/', getToken: async () => 'host-token' });
  });
  expect(await screen.findByRole('region', { name: 'Fathom' })).toBeInTheDocument();
  const sourcesCall = calls.find((c) => c.path === '/sources');
  expect(sourcesCall?.headers.Authorization).toBe('Bearer host-token');
  expect(host.querySelector('.hub')).not.toBeNull();
  act(() => handle?.unmount());
  expect(host.childElementCount).toBe(0);
  host.remove();
});
