import { describe, expect, test } from 'vitest';
import type { Job } from '../api/types';
import { job } from '../test/harness';
import { jobSummary, progressText, relativeTime, timestamp } from './format';

const finished = (overrides: Record<string, unknown>) =>
  job({ status: 'completed', finished_at: new Date().toISOString(), ...overrides }) as Job;

describe('the toast that sums up a job', () => {
  test('counts new calls', () => {
    const summary = jobSummary(finished({ counts: { imported: 8, updated: 0, skipped: 0, failed: 0 } }));
    expect(summary).toEqual({ title: 'Fathom sync complete: 8 new calls imported', details: [], tone: 'success' });
  });

  test('reports duplicates and failures', () => {
    const summary = jobSummary(
      finished({ status: 'completed_with_errors', counts: { imported: 1, updated: 0, skipped: 3, failed: 2 } }),
    );
    expect(summary.title).toBe('Fathom sync complete: 1 new call imported');
    expect(summary.details).toEqual(['Skipped 3 duplicates', '2 failed']);
    expect(summary.tone).toBe('warning');
  });

  test('reports quota skips as such, not as duplicates', () => {
    const quota = { external_id: 'x', reason: 'monthly import limit reached' };
    const summary = jobSummary(
      finished({
        counts: { imported: 7, updated: 0, skipped: 4, failed: 0 },
        skipped_items: [quota, { ...quota, external_id: 'y' }, { ...quota, external_id: 'z' }],
      }),
    );
    expect(summary.details).toEqual(['Skipped 1 duplicate', '3 not imported: monthly limit reached']);
  });

  test('uses counts.not_imported when the server sends it', () => {
    const summary = jobSummary(finished({ counts: { imported: 2, updated: 0, skipped: 1, failed: 0, not_imported: 3 } }));
    expect(summary.details).toEqual(['Skipped 1 duplicate', '3 not imported: monthly limit reached']);
  });

  test('recordings sent for transcription point to the uploads', () => {
    const summary = jobSummary(
      finished({ counts: { imported: 1, updated: 0, skipped: 0, failed: 0, not_imported: 0, transcribing: 2 } }),
    );
    expect(summary.details).toEqual(['2 recordings sent for transcription (see Recent uploads)']);
  });

  test('a failed job says why', () => {
    const summary = jobSummary(finished({ status: 'failed', summary: 'Fathom refused the token' }));
    expect(summary.title).toBe('Fathom sync failed: Fathom refused the token');
    expect(summary.tone).toBe('error');
  });
});

test('progress and timestamps read as people write them', () => {
  expect(progressText({ current: 4, total: 12 })).toBe('4/12 calls');
  expect(progressText({ current: 1, total: null })).toBe('1 call');
  expect(timestamp(65)).toBe('1:05');
  expect(timestamp(3725)).toBe('1:02:05');
});

test('relative times read both ways', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  expect(relativeTime('2026-12-01T11:58:00Z', now)).toBe('2 minutes ago');
  expect(relativeTime('2026-12-01T12:05:00Z', now)).toBe('in 5 minutes');
  expect(relativeTime('2026-12-01T11:59:50Z', now)).toBe('just now');
  expect(relativeTime(null, now)).toBe('never');
});
