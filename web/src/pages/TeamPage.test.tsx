import { screen, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import { mockApi, renderWithHub, source } from '../test/harness';
import { TeamPage } from './TeamPage';

test('an admin sees every member’s sources and the activity log', async () => {
  mockApi({
    'GET /me': { body: { user_id: 'ana', workspace_id: 'acme', role: 'admin', personal: false } },
    'GET /sources?scope=workspace': {
      body: { items: [source({ user_id: 'ana' }), source({ user_id: 'bo', account_email: 'bo@acme.com', sharing: 'private' })] },
    },
    'GET /activity': {
      body: { items: [{ id: 'a1', at: '2026-11-30T10:00:00Z', user_id: 'bo', source: 'fathom', action: 'connected', message: 'connected Fathom' }], next_cursor: null },
    },
  });
  renderWithHub(<TeamPage />, { path: '/team' });
  const table = await screen.findByRole('table');
  expect(await within(table).findByText('bo@acme.com')).toBeInTheDocument();
  expect(within(table).getByText('Private')).toBeInTheDocument();
  expect(await screen.findByText(/connected Fathom/)).toBeInTheDocument();
});

test('a member sees the activity log but not the admin view', async () => {
  mockApi({
    'GET /me': { body: { user_id: 'bo', workspace_id: 'acme', role: 'member', personal: false } },
    'GET /activity': { body: { items: [], next_cursor: null } },
  });
  renderWithHub(<TeamPage />, { path: '/team' });
  expect(await screen.findByText('No activity yet.')).toBeInTheDocument();
  expect(screen.queryByRole('table')).not.toBeInTheDocument();
});

test('without a workspace (or GET /me) the team page says what it needs', async () => {
  mockApi({});
  renderWithHub(<TeamPage />, { path: '/team' });
  expect(await screen.findByText('Team features appear when you are signed in to a workspace.')).toBeInTheDocument();
});
