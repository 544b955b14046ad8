import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { expect, test } from 'vitest';
import { mockApi, renderWithHub } from '../test/harness';
import { CallsPage } from './CallsPage';

const item = (id: string, title: string, source = 'fathom') => ({
  id,
  source,
  external_id: id,
  title,
  started_at: '2026-11-30T10:00:00Z',
  duration_seconds: 600,
  participant_count: 3,
  has_summary: true,
  created_at: '2026-11-30T10:00:00Z',
});

test('searches and filters by source, linking each call to its page', async () => {
  const { calls } = mockApi({
    'GET /recordings': (call) => {
      const q = new URL(call.path, 'http://x').searchParams.get('q');
      return { body: { items: q ? [item('rec_2', 'Pricing review')] : [item('rec_1', 'Kickoff'), item('rec_2', 'Pricing review')], next_cursor: null } };
    },
  });
  renderWithHub(<CallsPage />, { path: '/calls' });
  expect(await screen.findByRole('link', { name: 'Kickoff' })).toHaveAttribute('href', '/meetings/rec_1');
  await userEvent.type(screen.getByRole('searchbox', { name: 'Search' }), 'pricing');
  await waitFor(() => expect(screen.queryByRole('link', { name: 'Kickoff' })).not.toBeInTheDocument());
  expect(await screen.findByRole('link', { name: 'Pricing review' })).toBeInTheDocument();
  expect(screen.getByTestId('location')).toHaveTextContent('/calls?q=pricing');
  await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Source' }), 'upload');
  await waitFor(() => expect(calls.some((c) => c.path.includes('source=upload') && c.path.includes('q=pricing'))).toBe(true));
});
