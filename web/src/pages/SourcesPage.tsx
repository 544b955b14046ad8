import { useEffect, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { toast } from 'sonner';
import { useHub } from '../context';
import { useJobTracker } from '../jobs';
import { oauthErrorText, sourceName } from '../lib/format';
import { SourceCard } from '../components/SourceCard';
import { FailedImports } from '../components/FailedImports';
import { QuotaBanner } from '../components/Quota';
import { useDemo } from '../hooks';

export function useSources() {
  const { api } = useHub();
  const { tracked } = useJobTracker();
  return useQuery({
    queryKey: ['sources'],
    queryFn: () => api.sources(),
    refetchInterval: (query) => {
      const running = query.state.data?.items.some((item) => item.current_job) || tracked.length > 0;
      return running ? 2000 : 30000;
    },
  });
}

/** Reads `?connected=`, `?error=` or `?confirm=&ticket=` left by the OAuth callback, once. */
function useOAuthReturn() {
  const { api } = useHub();
  const [params, setParams] = useSearchParams();
  const queryClient = useQueryClient();
  const { track, trackLatest } = useJobTracker();
  const handled = useRef(false);

  useEffect(() => {
    if (handled.current) return;
    const connected = params.get('connected');
    const error = params.get('error');
    const confirm = params.get('confirm');
    const ticket = params.get('ticket');
    if (!connected && !error && !(confirm && ticket)) return;
    handled.current = true;
    const clean = () => {
      const next = new URLSearchParams(params);
      for (const key of ['connected', 'error', 'confirm', 'ticket', 'source']) next.delete(key);
      setParams(next, { replace: true });
    };
    if (connected) {
      toast.success(`${sourceName(connected)} connected`, { description: 'The first sync is running.' });
      trackLatest(connected);
      void queryClient.invalidateQueries({ queryKey: ['sources'] });
      clean();
    } else if (error) {
      toast.error('Connecting failed', { description: oauthErrorText(error), duration: 10000 });
      clean();
    } else if (confirm && ticket) {
      clean();
      api
        .confirmOAuth(confirm, ticket)
        .then((result) => {
          toast.success(`${sourceName(confirm)} connected`, { description: 'The first sync is running.' });
          const job = (result as { current_job?: { id: string } | null }).current_job;
          if (job) track(job.id);
          else trackLatest(confirm);
        })
        .catch((e: unknown) =>
          toast.error(`${sourceName(confirm)} could not be connected`, {
            description: e instanceof Error ? e.message : oauthErrorText('confirm_failed'),
            duration: 10000,
          }),
        )
        .finally(() => void queryClient.invalidateQueries({ queryKey: ['sources'] }));
    }
  }, [api, params, setParams, queryClient, track, trackLatest]);
}

export function SourcesPage() {
  useOAuthReturn();
  const { data, isLoading, error } = useSources();
  const { data: demo } = useDemo();
  const { track } = useJobTracker();
  const [pending, setPending] = useState<Record<string, string>>({});

  // Follow every running job so that its end is announced, wherever it was started.
  useEffect(() => {
    data?.items.forEach((item) => item.current_job && track(item.current_job.id));
  }, [data, track]);

  return (
    <>
      <div className="page-head">
        <h1>Sources</h1>
        <p className="muted">Connect where your calls are recorded; new calls are imported every hour.</p>
      </div>
      <QuotaBanner />
      {isLoading && <p className="muted">Loading sources…</p>}
      {error && (
        <p className="error-text" role="alert">
          Sources could not be loaded: {error.message}
        </p>
      )}
      <div className="grid">
        {data?.items.map((item) => (
          <SourceCard
            key={item.source}
            item={item}
            demo={demo}
            pendingJobId={pending[item.source]}
            onJobStarted={(source, jobId) => setPending((p) => ({ ...p, [source]: jobId }))}
          />
        ))}
      </div>
      <FailedImports />
    </>
  );
}
