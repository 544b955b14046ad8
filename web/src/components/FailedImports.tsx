import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { toast } from 'sonner';
import { ApiClient, isMissing } from '../api/client';
import type { FailedImport, Job, ProviderMeeting } from '../api/types';
import { useHub } from '../context';
import { useJobTracker } from '../jobs';
import { formatDateTime, sourceName } from '../lib/format';

export interface FailedList {
  /** `api`: the server lists them (`GET /failed-imports`); `derived`: built from jobs. */
  mode: 'api' | 'derived';
  items: FailedImport[];
}

function meetingId(m: ProviderMeeting): string {
  return String(m.external_id ?? m.recording_id ?? m.id ?? '');
}

/**
 * Failed items of recent jobs and uploads, for a server without `GET /failed-imports`: the
 * newest failure of each item, without those imported since (the provider's listing marks
 * them synced) and uploads no longer failed.
 */
export async function deriveFailedImports(api: ApiClient): Promise<FailedImport[]> {
  const jobs: Job[] = (await api.jobs(100)).items;
  const newestFirst = [...jobs].sort((a, b) => b.created_at.localeCompare(a.created_at));
  const seen = new Map<string, FailedImport>();
  for (const job of newestFirst) {
    for (const item of job.failed_items) {
      const key = `${job.source}:${item.external_id}`;
      if (seen.has(key)) continue;
      const upload = job.kind === 'upload';
      seen.set(key, {
        kind: upload ? 'upload' : 'sync',
        job_id: job.id,
        upload_id: upload ? item.external_id : null,
        source: job.source,
        external_id: item.external_id,
        title: item.title ?? '',
        reason: item.reason,
        failed_at: job.finished_at ?? job.created_at,
      });
    }
  }
  const items = [...seen.values()];
  const result: FailedImport[] = [];
  const bySource = new Map<string, Map<string, ProviderMeeting> | null>();
  for (const item of items) {
    if (item.kind === 'upload' && item.upload_id) {
      try {
        const upload = await api.upload(item.upload_id);
        if (upload.status !== 'failed') continue;
        result.push({ ...item, title: upload.filename, reason: upload.error ?? item.reason });
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
      continue;
    }
    if (!bySource.has(item.source)) {
      try {
        const page = await api.providerMeetings(item.source);
        bySource.set(item.source, new Map(page.items.map((m) => [meetingId(m), m])));
      } catch {
        bySource.set(item.source, null);
      }
    }
    const meeting = bySource.get(item.source)?.get(item.external_id);
    if (meeting?.synced) continue;
    result.push({ ...item, title: item.title || meeting?.title || `Meeting ${item.external_id}` });
  }
  return result.sort((a, b) => b.failed_at.localeCompare(a.failed_at));
}

export function useFailedImports() {
  const { api } = useHub();
  return useQuery<FailedList>({
    queryKey: ['failed-imports'],
    queryFn: async () => {
      try {
        return { mode: 'api', items: (await api.failedImports()).items };
      } catch (error) {
        if (!isMissing(error)) throw error;
        return { mode: 'derived', items: await deriveFailedImports(api) };
      }
    },
    refetchInterval: 15000,
  });
}

async function retryOne(api: ApiClient, mode: FailedList['mode'], item: FailedImport): Promise<string | null> {
  if (item.kind === 'upload' && item.upload_id) {
    await api.retryUpload(item.upload_id);
    return null;
  }
  if (mode === 'api') return (await api.retryJob(item.job_id, [item.external_id])).job_id;
  // Older servers retry every failed item of a job; a sync of the one meeting is precise.
  return (await api.sync(item.source, [item.external_id])).job_id;
}

export function FailedImports() {
  const { api } = useHub();
  const queryClient = useQueryClient();
  const { track } = useJobTracker();
  const { data, isLoading, error } = useFailedImports();
  const items = data?.items ?? [];

  const afterRetry = (jobIds: (string | null)[]) => {
    jobIds.forEach((id) => id && track(id));
    void queryClient.invalidateQueries({ queryKey: ['sources'] });
    void queryClient.invalidateQueries({ queryKey: ['uploads'] });
    // The item leaves the list once its retry has succeeded; keep checking until then.
    const recheck = (delay: number) =>
      setTimeout(() => void queryClient.invalidateQueries({ queryKey: ['failed-imports'] }), delay);
    [500, 2000, 5000, 10000].forEach(recheck);
  };

  const retry = useMutation({
    mutationFn: (item: FailedImport) => retryOne(api, data?.mode ?? 'derived', item),
    onSuccess: (jobId, item) => {
      toast.info(`Retrying “${item.title}”`);
      afterRetry([jobId]);
    },
    onError: (e, item) => toast.error(`“${item.title}” could not be retried: ${e instanceof Error ? e.message : ''}`),
  });
  const retryAll = useMutation({
    mutationFn: async () => {
      if (data?.mode === 'api') return (await api.retryAllFailed()).job_ids ?? [];
      return Promise.all(items.map((item) => retryOne(api, 'derived', item)));
    },
    onSuccess: (jobIds) => {
      toast.info(`Retrying ${items.length} failed imports`);
      afterRetry(jobIds);
    },
    onError: (e) => toast.error(`Retry all failed: ${e instanceof Error ? e.message : ''}`),
  });

  return (
    <section className="panel" aria-labelledby="failed-heading">
      <div className="panel-head">
        <h2 id="failed-heading">Failed imports</h2>
        {items.length > 1 && (
          <button type="button" className="button" onClick={() => retryAll.mutate()} disabled={retryAll.isPending}>
            Retry all
          </button>
        )}
      </div>
      {isLoading && <p className="muted">Loading…</p>}
      {error && <p className="error-text">Failed imports could not be loaded: {error.message}</p>}
      {!isLoading && !error && items.length === 0 && <p className="muted">Nothing failed. Every import went through.</p>}
      {items.length > 0 && (
        <ul className="failed-list">
          {items.map((item) => (
            <li key={`${item.source}:${item.external_id}`} className="failed-item">
              <div>
                <p className="failed-title">{item.title}</p>
                <p className="muted small">
                  {sourceName(item.source)} · {formatDateTime(item.failed_at)}
                </p>
                <p className="error-text small">{item.reason}</p>
              </div>
              <button
                type="button"
                className="button"
                aria-label={`Retry ${item.title}`}
                onClick={() => retry.mutate(item)}
                disabled={retry.isPending && retry.variables === item}
              >
                Retry
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
