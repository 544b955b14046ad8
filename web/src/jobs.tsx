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
  tracked: string[];
}

const TrackerContext = createContext<Tracker>({ track: () => undefined, tracked: [] });

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
  const [tracked, setTracked] = useState<string[]>([]);
  const announced = useRef(new Set<string>());
  const queryClient = useQueryClient();

  const track = useCallback((jobId: string) => {
    if (announced.current.has(jobId)) return;
    setTracked((ids) => (ids.includes(jobId) ? ids : [...ids, jobId]));
  }, []);

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

  const value = useMemo(() => ({ track, tracked }), [track, tracked]);
  return (
    <TrackerContext.Provider value={value}>
      {children}
      {tracked.map((id) => (
        <Watcher key={id} jobId={id} onDone={onDone} />
      ))}
    </TrackerContext.Provider>
  );
}
