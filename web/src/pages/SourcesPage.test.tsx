import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, test } from 'vitest';
import { job, mockApi, renderWithHub, source } from '../test/harness';
import { SourcesPage } from './SourcesPage';

const sources = {
  body: {
    items: [
      source(),
      source({ source: 'zoom', status: 'error', last_error: 'Zoom is not answering', account_email: 'z@example.com' }),
      source({ source: 'upload', status: 'available', connection_id: null, account_email: null, recording_count: 3 }),
    ],
  },
};

describe('the sources page', () => {
  test('shows a card per source', async () => {
    mockApi({ 'GET /sources': sources, 'GET /jobs': { body: { items: [] } } });
    renderWithHub(<SourcesPage />);
    for (const name of ['Fathom', 'Zoom', 'Uploads']) {
      expect(await screen.findByRole('region', { name })).toBeInTheDocument();
    }
    expect(within(screen.getByRole('region', { name: 'Zoom' })).getByText('Zoom is not answering')).toBeInTheDocument();
  });

  test('shows the monthly quota where a limit is set', async () => {
    mockApi({
      'GET /sources': sources,
      'GET /usage': { body: { imports_this_month: 7, limit: 10, resets_at: '2027-01-01T00:00:00Z' } },
    });
    renderWithHub(<SourcesPage />);
    expect(await screen.findByText('7 of 10 imports this month, resets on 1 January')).toBeInTheDocument();
  });

  test('says nothing of a quota when there is none or the server has no usage', async () => {
    mockApi({ 'GET /sources': sources });
    renderWithHub(<SourcesPage />);
    await screen.findByRole('region', { name: 'Fathom' });
    expect(screen.queryByText(/imports this month/)).not.toBeInTheDocument();
  });

  test('back from the provider with ?connected= it says so, follows the first sync and cleans the URL', async () => {
    mockApi({
      'GET /sources': sources,
      'GET /jobs?limit=1&source=fathom': { body: { items: [job({ id: 'job_7' })] } },
      'GET /jobs/job_7': {
        body: job({ id: 'job_7', status: 'completed', counts: { imported: 5, updated: 0, skipped: 0, failed: 0 } }),
      },
    });
    renderWithHub(<SourcesPage />, { path: '/?connected=fathom' });
    expect(await screen.findByText('Fathom connected')).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent(/^\/$/));
    expect(await screen.findByText('Fathom sync complete: 5 new calls imported')).toBeInTheDocument();
  });

  test('back with ?error= it gives the reason', async () => {
    mockApi({ 'GET /sources': sources });
    renderWithHub(<SourcesPage />, { path: '/?error=access_denied' });
    expect(await screen.findByText('You declined access at the provider, so nothing was connected.')).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent(/^\/$/));
  });

  test('back with ?confirm= it confirms with the bearer token', async () => {
    const { calls } = mockApi({
      'GET /sources': sources,
      'POST /oauth/fathom/confirm': { body: source() },
      'GET /jobs?limit=1&source=fathom': { body: { items: [] } },
    });
    renderWithHub(<SourcesPage />, { path: '/?confirm=fathom&ticket=t123' });
    expect(await screen.findByText('Fathom connected')).toBeInTheDocument();
    const confirm = calls.find((c) => c.path === '/oauth/fathom/confirm');
    expect(confirm?.body).toEqual({ ticket: 't123' });
    expect(confirm?.headers.Authorization).toBe('Bearer test-token');
    expect(screen.getByTestId('location')).toHaveTextContent(/^\/$/);
  });
});

describe('failed imports', () => {
  const failed = [
    {
      kind: 'sync',
      job_id: 'job_1',
      source: 'fathom',
      external_id: '101',
      title: 'Pricing review',
      reason: 'Fathom answered 500',
      failed_at: '2026-11-30T10:00:00Z',
    },
    {
      kind: 'upload',
      job_id: 'job_2',
      upload_id: 'upl_1',
      source: 'upload',
      external_id: 'upl_1',
      title: 'board.wav',
      reason: 'the file is not audio',
      failed_at: '2026-11-30T09:00:00Z',
    },
  ];

  test('lists each item with its title, source and reason; a retried item leaves the list', async () => {
    let items = failed;
    const { calls } = mockApi({
      'GET /sources': sources,
      'GET /failed-imports': () => ({ body: { items } }),
      'POST /jobs/job_1/retry': () => {
        items = failed.slice(1);
        return { status: 202, body: { job_id: 'job_3' } };
      },
      'GET /jobs/job_3': { body: job({ id: 'job_3', status: 'completed', counts: { imported: 1, updated: 0, skipped: 0, failed: 0 } }) },
    });
    renderWithHub(<SourcesPage />);
    const region = await screen.findByRole('region', { name: 'Failed imports' });
    const pricing = (await within(region).findByText('Pricing review')).closest('li') as HTMLElement;
    expect(pricing).toHaveTextContent('Fathom');
    expect(pricing).toHaveTextContent('Fathom answered 500');
    expect(within(region).getByText('board.wav')).toBeInTheDocument();
    await userEvent.click(within(pricing).getByRole('button', { name: 'Retry Pricing review' }));
    expect(calls.find((c) => c.path === '/jobs/job_1/retry')?.body).toEqual({ external_ids: ['101'] });
    await waitFor(() => expect(within(region).queryByText('Pricing review')).not.toBeInTheDocument(), { timeout: 3000 });
  });

  test('Retry all retries every item at once', async () => {
    const { calls } = mockApi({
      'GET /sources': sources,
      'GET /failed-imports': { body: { items: failed } },
      'POST /failed-imports/retry': { status: 202, body: { job_ids: [] } },
    });
    renderWithHub(<SourcesPage />);
    const region = await screen.findByRole('region', { name: 'Failed imports' });
    await userEvent.click(await within(region).findByRole('button', { name: 'Retry all' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.path === '/failed-imports/retry')).toBe(true));
  });

  test('without GET /failed-imports, they come from recent jobs, titled from the provider', async () => {
    mockApi({
      'GET /sources': sources,
      'GET /jobs?limit=100': {
        body: {
          items: [
            job({ id: 'job_5', status: 'completed_with_errors', failed_items: [{ external_id: '101', reason: 'timeout' }] }),
            job({ id: 'job_6', kind: 'upload', source: 'upload', status: 'failed', failed_items: [{ external_id: 'upl_1', reason: 'bad' }] }),
            job({ id: 'job_4', status: 'completed_with_errors', failed_items: [{ external_id: '102', reason: 'timeout' }] }),
          ],
        },
      },
      'GET /meetings?source=fathom': {
        body: { items: [{ external_id: '101', title: 'Pricing review', synced: false }, { external_id: '102', title: 'Done since', synced: true }] },
      },
      'GET /uploads/upl_1': { body: { id: 'upl_1', filename: 'board.wav', status: 'failed', error: 'not audio', progress: { chunks_done: 0, chunks_total: 0 }, recording_id: null, created_at: '' } },
    });
    renderWithHub(<SourcesPage />);
    const region = await screen.findByRole('region', { name: 'Failed imports' });
    expect(await within(region).findByText('Pricing review')).toBeInTheDocument();
    expect(within(region).getByText('board.wav')).toBeInTheDocument();
    expect(within(region).getByText('not audio')).toBeInTheDocument();
    // Imported since it failed: no longer listed.
    expect(within(region).queryByText('Done since')).not.toBeInTheDocument();
  });
});
