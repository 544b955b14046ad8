import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { toast } from 'sonner';
import type { Job } from './api/types';
import { useHub } from './context';
import { isFinished, jobSummary } from './lib/format';

/** How often a running job is polled. */
export const JOB_POLL_MS = 1000;

interface Tracker {
  /** Follow a job until it ends, then announce how it went. */
  track: (jobId: string) => void;
  /** Follow the source's newest job, even if it already ended (a sync started elsewhere). */
  trackLatest: (source: string) => void;
  tracked: string[];
}

const TrackerContext = createContext<Tracker>({ track: () => undefined, trackLatest: () => undefined, tracked: [] });

/** A job older than this is history, not news. */
const RECENT_MS = 5 * 60 * 1000;

export function useJobTracker(): Tracker {
  return useContext(TrackerContext);
}

/** A job, polled while it runs. */
export function useJob(jobId: string | null | undefined, initial?: Job | null) {
  const { api } = useHub();
  return useQuery({
    queryKey: ['job', jobId],
    queryFn: () => api.job(jobId as string),
    enabled: Boolean(jobId),
    initialData: initial && initial.id === jobId ? initial : undefined,
    initialDataUpdatedAt: 0,
    refetchInterval: (query) => (query.state.data && isFinished(query.state.data) ? false : JOB_POLL_MS),
  });
}

function announce(job: Job) {
  const { title, details, tone } = jobSummary(job);
  const description = details.length ? details.join(' · ') : undefined;
  if (tone === 'error') toast.error(title, { description });
  else if (tone === 'warning') toast.warning(title, { description });
  else toast.success(title, { description });
}

function Watcher({ jobId, onDone }: { jobId: string; onDone: (job: Job) => void }) {
  const { data } = useJob(jobId);
  useEffect(() => {
    if (data && isFinished(data)) onDone(data);
  }, [data, onDone]);
  return null;
}

export function JobTrackerProvider({ children }: { children: ReactNode }) {
  const { api } = useHub();
  const [tracked, setTracked] = useState<string[]>([]);
  const announced = useRef(new Set<string>());
  const queryClient = useQueryClient();

  const track = useCallback((jobId: string) => {
    if (announced.current.has(jobId)) return;
    setTracked((ids) => (ids.includes(jobId) ? ids : [...ids, jobId]));
  }, []);

  const trackLatest = useCallback(
    (source: string) => {
      api
        .jobs(1, source)
        .then(({ items }) => {
          const job = items[0];
          if (job && Date.now() - new Date(job.created_at).getTime() < RECENT_MS) track(job.id);
        })
        .catch(() => undefined);
    },
    [api, track],
  );

  const onDone = useCallback(
    (job: Job) => {
      if (announced.current.has(job.id)) return;
      announced.current.add(job.id);
      setTracked((ids) => ids.filter((id) => id !== job.id));
      announce(job);
      for (const key of ['sources', 'recordings', 'failed-imports', 'usage', 'activity']) {
        void queryClient.invalidateQueries({ queryKey: [key] });
      }
    },
    [queryClient],
  );

  const value = useMemo(() => ({ track, trackLatest, tracked }), [track, trackLatest, tracked]);
  return (
    <TrackerContext.Provider value={value}>
      {children}
      {tracked.map((id) => (
        <Watcher key={id} jobId={id} onDone={onDone} />
      ))}
    </TrackerContext.Provider>
  );
}
