import { screen, within } from '@testing-library/react';
import { Route, Routes } from 'react-router';
import { expect, test } from 'vitest';
import { mockApi, renderWithHub } from '../test/harness';
import { MeetingPage } from './MeetingPage';

const recording = {
  id: 'rec_1',
  source: 'fathom',
  external_id: '101',
  title: 'Pricing review',
  started_at: '2026-11-30T10:00:00Z',
  ended_at: null,
  duration_seconds: 900,
  participants: [
    { name: 'Ana', email: 'ana@acme.com', is_external: false },
    { name: 'Jo', email: 'jo@client.com', is_external: true },
  ],
  transcript: [
    { speaker: 'Ana', start_seconds: 3, text: 'Welcome.' },
    { speaker: 'Jo', start_seconds: 75, text: 'Thanks.' },
  ],
  summary_markdown:
    '## Key takeaways\n\n- **Pilot** works\n\n<script>window.hacked = true</script><img src=x onerror="window.hacked=true">\n\n[bad](javascript:alert(1))',
  action_items: [
    { description: 'Send the proposal', assignee_name: 'Ana', assignee_email: null, assignee_is_internal: true, completed: false, timestamp_seconds: 60 },
    { description: 'Share the export', assignee_name: 'Jo', assignee_email: null, assignee_is_internal: false, completed: true, timestamp_seconds: null },
  ],
  url: null,
  share_url: 'https://fathom.example/share/1',
  created_at: '2026-11-30T10:20:00Z',
  updated_at: '2026-11-30T10:20:00Z',
};

function renderMeeting(id: string) {
  return renderWithHub(
    <Routes>
      <Route path="/meetings/:id" element={<MeetingPage />} />
    </Routes>,
    { path: `/meetings/${id}` },
  );
}

test('a meeting page shows transcript, safe summary, participants and action items', async () => {
  mockApi({ 'GET /recordings/rec_1': { body: recording } });
  const { container } = renderMeeting('rec_1');
  expect(await screen.findByRole('heading', { name: 'Pricing review', level: 1 })).toBeInTheDocument();
  // Transcript with speakers and timestamps.
  expect(screen.getByText('1:15')).toBeInTheDocument();
  expect(screen.getByText('Welcome.')).toBeInTheDocument();
  // Markdown rendered, raw HTML dropped, unsafe links neutralised.
  expect(screen.getByRole('heading', { name: 'Key takeaways' })).toBeInTheDocument();
  expect(screen.getByText('Pilot').tagName).toBe('STRONG');
  expect(container.querySelector('script, img')).toBeNull();
  expect((window as unknown as { hacked?: boolean }).hacked).toBeUndefined();
  expect(screen.getByText('bad').getAttribute('href') ?? '').not.toContain('javascript');
  // Participants marked internal or external.
  const people = screen.getByRole('heading', { name: 'Participants' }).closest('section') as HTMLElement;
  expect(within(people).getByText('Ana').closest('li')).toHaveTextContent('Internal');
  expect(within(people).getByText('Jo').closest('li')).toHaveTextContent('External');
  // Action items with their assignees.
  const actions = screen.getByRole('heading', { name: 'Action items' }).closest('section') as HTMLElement;
  expect(within(actions).getByText('Send the proposal').closest('li')).toHaveTextContent('Ana');
  expect(within(actions).getByText('Share the export').closest('li')).toHaveTextContent('Jo (external)');
});

test('an unknown meeting says so', async () => {
  mockApi({ 'GET /recordings/rec_x': { status: 404, body: { error: { code: 'not_found', message: 'no recording' } } } });
  renderMeeting('rec_x');
  expect(await screen.findByRole('heading', { name: 'Call not found' })).toBeInTheDocument();
});
