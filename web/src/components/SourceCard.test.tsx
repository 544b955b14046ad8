import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, test } from 'vitest';
import type { SourceItem } from '../api/types';
import { job, mockApi, renderWithHub, source } from '../test/harness';
import { SourceCard } from './SourceCard';

const card = (item: Record<string, unknown>) => renderWithHub(<SourceCard item={source(item) as SourceItem} />);

describe('a source card', () => {
  test('is a region named after its source with the account, status and counts', () => {
    mockApi({});
    card({});
    const region = screen.getByRole('region', { name: 'Fathom' });
    expect(within(region).getByText('ana@example.com')).toBeInTheDocument();
    expect(within(region).getByText('Active')).toBeInTheDocument();
    expect(within(region).getByText('12 recordings')).toBeInTheDocument();
    expect(within(region).getByRole('switch', { name: 'Sync Fathom automatically' })).toHaveAttribute('aria-checked', 'true');
    expect(within(region).getByRole('button', { name: 'Sync now' })).toBeEnabled();
  });

  test('in error shows the reason and a Reconnect action', () => {
    mockApi({});
    card({ status: 'needs_reauth', active: false, last_error: 'Fathom refused the refresh token' });
    const region = screen.getByRole('region', { name: 'Fathom' });
    expect(within(region).getByText('Needs reconnect')).toBeInTheDocument();
    expect(within(region).getByText('Fathom refused the refresh token')).toBeInTheDocument();
    expect(within(region).getByRole('button', { name: 'Reconnect' })).toBeInTheDocument();
  });

  test('shows a running job as "Syncing... 4/12 calls" with a progress bar', async () => {
    mockApi({ 'GET /jobs/job_1': { body: job() } });
    card({ current_job: job() });
    const region = screen.getByRole('region', { name: 'Fathom' });
    expect(await within(region).findByText('Syncing... 4/12 calls')).toBeInTheDocument();
    expect(within(region).getByRole('progressbar', { name: 'Fathom sync progress' })).toHaveAttribute('aria-valuenow', '33');
  });

  test('an unknown total makes the progress bar indeterminate', async () => {
    const running = job({ progress: { current: 3, total: null } });
    mockApi({ 'GET /jobs/job_1': { body: running } });
    card({ current_job: running });
    const bar = await screen.findByRole('progressbar', { name: 'Fathom sync progress' });
    expect(bar).not.toHaveAttribute('aria-valuenow');
    expect(screen.getByText('Syncing... 3 calls')).toBeInTheDocument();
  });

  test('announces the end of a sync it started with a summary toast', async () => {
    let polls = 0;
    const { calls } = mockApi({
      'POST /sync': { status: 202, body: { job_id: 'job_9' } },
      'GET /jobs/job_9': () => {
        polls += 1;
        return {
          body:
            polls < 2
              ? job({ id: 'job_9' })
              : job({
                  id: 'job_9',
                  status: 'completed_with_errors',
                  counts: { imported: 8, updated: 0, skipped: 3, failed: 2 },
                  finished_at: new Date().toISOString(),
                }),
        };
      },
    });
    card({});
    await userEvent.click(screen.getByRole('button', { name: 'Sync now' }));
    expect(calls.find((c) => c.method === 'POST' && c.path === '/sync')?.body).toEqual({ source: 'fathom' });
    expect(await screen.findByText('Fathom sync complete: 8 new calls imported', {}, { timeout: 4000 })).toBeInTheDocument();
    expect(screen.getByText('Skipped 3 duplicates · 2 failed')).toBeInTheDocument();
  });

  test('the switch pauses syncing', async () => {
    const { calls } = mockApi({ 'PATCH /sources/fathom': { body: source({ status: 'paused', active: false }) } });
    card({});
    await userEvent.click(screen.getByRole('switch', { name: 'Sync Fathom automatically' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PATCH')).toBe(true));
    expect(calls.find((c) => c.method === 'PATCH')).toMatchObject({ path: '/sources/fathom', body: { active: false } });
  });

  test('disconnects only after the confirmation dialog', async () => {
    const { calls } = mockApi({ 'DELETE /sources/fathom': { body: source({ status: 'disconnected', active: false }) } });
    card({});
    await userEvent.click(screen.getByRole('button', { name: 'Disconnect' }));
    const dialog = screen.getByRole('alertdialog');
    expect(dialog).toHaveTextContent('Disconnect Fathom? Future syncs will stop. Your imported calls will be kept.');
    // Focus starts on Cancel; Escape closes without disconnecting.
    expect(within(dialog).getByRole('button', { name: 'Cancel' })).toHaveFocus();
    await userEvent.keyboard('{Escape}');
    expect(screen.queryByRole('alertdialog')).not.toBeInTheDocument();
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);

    await userEvent.click(screen.getByRole('button', { name: 'Disconnect' }));
    await userEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Disconnect' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE' && c.path === '/sources/fathom')).toBe(true));
  });

  test('connects with an API key', async () => {
    const { calls } = mockApi({ 'POST /sources/fathom/api-key': { body: source({ current_job: null }) }, 'GET /jobs?limit=1&source=fathom': { body: { items: [] } } });
    card({ status: 'not_connected', active: false, account_email: null, connection_id: null, recording_count: 0 });
    const region = screen.getByRole('region', { name: 'Fathom' });
    expect(within(region).getByRole('button', { name: 'Connect' })).toBeInTheDocument();
    await userEvent.click(within(region).getByRole('button', { name: 'Use an API key' }));
    await userEvent.type(within(region).getByLabelText('Fathom API key'), 'fk_secret');
    await userEvent.click(within(region).getByRole('button', { name: 'Connect with API key' }));
    await waitFor(() =>
      expect(calls.find((c) => c.path === '/sources/fathom/api-key')?.body).toEqual({ api_key: 'fk_secret' }),
    );
    expect(await screen.findByText('Fathom connected as ana@example.com')).toBeInTheDocument();
  });

  test('a refused connection says why', async () => {
    mockApi({
      'POST /oauth/zoom/initiate': {
        status: 400,
        body: { error: { code: 'unsupported_source', message: 'zoom cannot be connected with OAuth yet' } },
      },
    });
    card({ source: 'zoom', status: 'not_connected', active: false, account_email: null });
    await userEvent.click(screen.getByRole('button', { name: 'Connect' }));
    expect(await screen.findByText('Zoom could not be connected: zoom cannot be connected with OAuth yet')).toBeInTheDocument();
  });

  test('in a workspace offers the sharing choice', async () => {
    const { calls } = mockApi({ 'PATCH /sources/fathom': { body: source({ sharing: 'private' }) } });
    card({ sharing: 'workspace' });
    await userEvent.selectOptions(screen.getByLabelText('Fathom sharing'), 'private');
    await waitFor(() => expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({ sharing: 'private' }));
  });
});
