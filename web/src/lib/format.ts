import type { Job, SourceId, SourceStatus } from '../api/types';

const SOURCE_NAMES: Record<string, string> = { fathom: 'Fathom', zoom: 'Zoom', upload: 'Uploads' };

export function sourceName(source: SourceId): string {
  return SOURCE_NAMES[source] ?? source.charAt(0).toUpperCase() + source.slice(1);
}

export const STATUS_LABELS: Record<SourceStatus, string> = {
  active: 'Active',
  paused: 'Paused',
  error: 'Error',
  needs_reauth: 'Needs reconnect',
  disconnected: 'Disconnected',
  not_connected: 'Not connected',
  available: 'Ready',
};

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '—';
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatDay(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleDateString('en-GB', { day: 'numeric', month: 'long', timeZone: 'UTC' });
}

export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return 'never';
  const seconds = Math.round((now - then) / 1000);
  const future = seconds < 0;
  const abs = Math.abs(seconds);
  if (abs < 45) return future ? 'in a moment' : 'just now';
  const say = (text: string) => (future ? `in ${text}` : `${text} ago`);
  const minutes = Math.round(abs / 60);
  if (minutes < 60) return say(plural(minutes, 'minute'));
  const hours = Math.round(minutes / 60);
  if (hours < 24) return say(plural(hours, 'hour'));
  return formatDateTime(iso);
}

export function timestamp(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, '0');
  const ss = String(sec).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds == null) return '';
  const minutes = Math.round(seconds / 60);
  if (minutes < 1) return `${Math.round(seconds)} s`;
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function isFinished(job: Pick<Job, 'status'>): boolean {
  return job.status === 'completed' || job.status === 'completed_with_errors' || job.status === 'failed';
}

const QUOTA = /monthly (import )?(limit|quota)|quota/i;

/** Items a job did not import because the monthly limit was reached. */
export function notImportedCount(job: Job): number {
  if (typeof job.counts.not_imported === 'number') return job.counts.not_imported;
  return job.skipped_items.filter((item) => QUOTA.test(item.reason)).length;
}

/** What the toast says when a job ends: "Fathom sync complete: 8 new calls imported" and the rest. */
export function jobSummary(job: Job): { title: string; details: string[]; tone: 'success' | 'warning' | 'error' } {
  const name = sourceName(job.source);
  const notImported = notImportedCount(job);
  // Before `counts.not_imported`, quota skips were counted among the skipped.
  const duplicates = Math.max(
    0,
    job.counts.skipped - (typeof job.counts.not_imported === 'number' ? 0 : notImported),
  );
  const details: string[] = [];
  if (job.counts.updated) details.push(`${plural(job.counts.updated, 'call')} updated`);
  if (duplicates) details.push(`Skipped ${plural(duplicates, 'duplicate')}`);
  if (job.counts.transcribing) {
    details.push(`${plural(job.counts.transcribing, 'recording')} sent for transcription (see Recent uploads)`);
  }
  if (job.counts.failed) details.push(`${job.counts.failed} failed`);
  if (notImported) details.push(`${notImported} not imported: monthly limit reached`);
  if (job.status === 'failed') {
    return {
      title: `${name} sync failed${job.summary ? `: ${job.summary}` : ''}`,
      details,
      tone: 'error',
    };
  }
  const imported = job.counts.imported;
  const title =
    job.kind === 'upload'
      ? `Upload complete: ${plural(imported, 'new call')} imported`
      : `${name} sync complete: ${plural(imported, 'new call')} imported`;
  return { title, details, tone: job.counts.failed || notImported ? 'warning' : 'success' };
}

/** "4/12 calls", or "4 calls" while the total is unknown. */
export function progressText(progress: Job['progress']): string {
  return progress.total != null ? `${progress.current}/${progress.total} calls` : plural(progress.current, 'call');
}

const ERROR_REASONS: Record<string, string> = {
  access_denied: 'You declined access at the provider, so nothing was connected.',
  invalid_state: 'The connection link expired or was already used. Start connecting again.',
  missing_code: 'The provider did not send an authorization code. Try connecting again.',
  exchange_failed: 'The provider refused to finish connecting. Try again in a moment.',
  internal_error: 'Something went wrong on our side while connecting. Try again.',
  confirm_failed: 'This connection could not be confirmed. Start connecting again from this browser.',
};

export function oauthErrorText(code: string): string {
  return ERROR_REASONS[code] ?? `Connecting failed (${code}).`;
}
