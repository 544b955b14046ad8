import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { toast } from 'sonner';
import type { DemoInfo, SourceItem } from '../api/types';
import { useHub } from '../context';
import { useJob, useJobTracker } from '../jobs';
import { isFinished, plural, progressText, relativeTime, sourceName, STATUS_LABELS } from '../lib/format';
import { ConfirmDialog } from './ConfirmDialog';
import { SourceLogo } from './Logo';
import { ProgressBar } from './ProgressBar';
import { Switch } from './Switch';

const DEFAULT_METHODS: Record<string, ('oauth' | 'api_key')[]> = {
  fathom: ['oauth', 'api_key'],
  zoom: ['oauth'],
};

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : 'Something went wrong.';
}

interface Props {
  item: SourceItem;
  demo?: DemoInfo | null;
  /** The job started from this card (Sync now) before the list shows it. */
  pendingJobId?: string | null;
  onJobStarted?: (source: string, jobId: string) => void;
}

export function SourceCard({ item, demo, pendingJobId, onJobStarted }: Props) {
  const { api } = useHub();
  const queryClient = useQueryClient();
  const { track, trackLatest } = useJobTracker();
  const name = sourceName(item.source);
  const [confirming, setConfirming] = useState(false);
  const [showKeyForm, setShowKeyForm] = useState(false);
  const [apiKey, setApiKey] = useState('');

  const jobId = item.current_job?.id ?? pendingJobId ?? null;
  const { data: job } = useJob(jobId, item.current_job);
  const running = job && !isFinished(job) ? job : null;

  const refresh = () => queryClient.invalidateQueries({ queryKey: ['sources'] });
  const started = (jobIdStarted: string) => {
    track(jobIdStarted);
    onJobStarted?.(item.source, jobIdStarted);
  };

  const toggle = useMutation({
    mutationFn: (active: boolean) => api.setActive(item.source, active),
    onSuccess: (_, active) => {
      toast.success(active ? `${name} syncing resumed` : `${name} syncing paused`);
      return refresh();
    },
    onError: (error) => toast.error(`${name}: ${errorMessage(error)}`),
  });
  const syncNow = useMutation({
    mutationFn: () => api.sync(item.source),
    onSuccess: ({ job_id }) => {
      started(job_id);
      return refresh();
    },
    onError: (error) => toast.error(`${name}: ${errorMessage(error)}`),
  });
  const disconnect = useMutation({
    mutationFn: () => api.disconnect(item.source),
    onSuccess: () => {
      setConfirming(false);
      toast.success(`${name} disconnected. Your imported calls were kept.`);
      return refresh();
    },
    onError: (error) => {
      setConfirming(false);
      toast.error(`${name}: ${errorMessage(error)}`);
    },
  });
  const oauth = useMutation({
    mutationFn: () => api.initiateOAuth(item.source, window.location.pathname || '/'),
    onSuccess: ({ authorization_url }) => {
      window.location.assign(authorization_url);
    },
    onError: (error) => toast.error(`${name} could not be connected: ${errorMessage(error)}`),
  });
  const withKey = useMutation({
    mutationFn: (key: string) => api.connectApiKey(item.source, key),
    onSuccess: (source) => {
      setShowKeyForm(false);
      setApiKey('');
      toast.success(`${name} connected${source.account_email ? ` as ${source.account_email}` : ''}`, {
        description: 'The first sync has started.',
      });
      if (source.current_job) started(source.current_job.id);
      else trackLatest(item.source);
      return refresh();
    },
    onError: (error) => toast.error(`${name}: ${errorMessage(error)}`),
  });
  const setSharing = useMutation({
    mutationFn: (sharing: 'workspace' | 'private') => api.setSharing(item.source, sharing),
    onSuccess: refresh,
    onError: (error) => toast.error(`${name}: ${errorMessage(error)}`),
  });

  const isUpload = item.source === 'upload';
  const connected = !isUpload && !['not_connected', 'disconnected'].includes(item.status);
  const needsReconnect = item.status === 'needs_reauth' || item.status === 'error';
  const methods = item.connect_methods ?? DEFAULT_METHODS[item.source] ?? ['oauth'];
  // Uploads are transcribed by the demo transcription service when it runs.
  const isDemo = Boolean(demo?.demo && demo.providers[item.source === 'upload' ? 'transcribe' : item.source]);

  const submitKey = (event: FormEvent) => {
    event.preventDefault();
    if (apiKey.trim()) withKey.mutate(apiKey.trim());
  };
  const openKeyForm = () => {
    setShowKeyForm(true);
    if (isDemo && demo?.fathom_api_key && !apiKey) setApiKey(demo.fathom_api_key);
  };

  return (
    <section className="card" aria-label={name} data-status={item.status}>
      <header className="card-head">
        <SourceLogo source={item.source} />
        <div className="card-title">
          <h3>{name}</h3>
          <p className="muted account">
            {isUpload ? 'Audio and video files' : (item.account_email ?? (connected ? 'Connected' : 'No account connected'))}
          </p>
        </div>
        <span className={`badge status-${item.status}`}>{STATUS_LABELS[item.status] ?? item.status}</span>
      </header>
      {isDemo && (
        <span className="badge demo" title="A local stand-in for the real service">
          {isUpload ? 'Demo transcription' : 'Demo provider'}
        </span>
      )}

      {needsReconnect && item.last_error && (
        <p className="error-text" role="note">
          {item.last_error}
        </p>
      )}

      {running && (
        <div className="sync-progress" aria-live="polite">
          <p>Syncing... {progressText(running.progress)}</p>
          <ProgressBar value={running.progress.current} max={running.progress.total} label={`${name} sync progress`} />
        </div>
      )}

      <dl className="facts">
        {!isUpload && (
          <div>
            <dt>Last sync</dt>
            <dd>{relativeTime(item.last_sync_at)}</dd>
          </div>
        )}
        <div>
          <dt>Imported</dt>
          <dd>{plural(item.recording_count, 'recording')}</dd>
        </div>
      </dl>

      {item.sharing && connected && (
        <label className="field inline">
          <span>Shared with</span>
          <select
            value={item.sharing}
            onChange={(e) => setSharing.mutate(e.target.value as 'workspace' | 'private')}
            aria-label={`${name} sharing`}
          >
            <option value="workspace">Workspace</option>
            <option value="private">Only me</option>
          </select>
        </label>
      )}

      <div className="card-actions">
        {isUpload && (
          <Link className="button primary" to="/upload">
            Upload files
          </Link>
        )}
        {connected && (
          <>
            {item.status !== 'needs_reauth' && (
              <Switch
                checked={item.active}
                label={`Sync ${name} automatically`}
                onChange={(active) => !toggle.isPending && toggle.mutate(active)}
              />
            )}
            <button
              type="button"
              className="button"
              onClick={() => syncNow.mutate()}
              disabled={!item.active || Boolean(running) || syncNow.isPending}
            >
              Sync now
            </button>
            {needsReconnect && methods.includes('oauth') && (
              <button type="button" className="button primary" onClick={() => oauth.mutate()} disabled={oauth.isPending}>
                Reconnect
              </button>
            )}
            <button type="button" className="button subtle" onClick={() => setConfirming(true)}>
              Disconnect
            </button>
          </>
        )}
        {!isUpload && !connected && (
          <>
            {methods.includes('oauth') && (
              <button type="button" className="button primary" onClick={() => oauth.mutate()} disabled={oauth.isPending}>
                Connect
              </button>
            )}
            {methods.includes('api_key') && !showKeyForm && (
              <button type="button" className="button link" onClick={openKeyForm}>
                Use an API key
              </button>
            )}
          </>
        )}
      </div>

      {showKeyForm && !connected && (
        <form className="key-form" onSubmit={submitKey}>
          <label className="field">
            <span>{name} API key</span>
            <input
              type="password"
              autoComplete="off"
              value={apiKey}
              onChange={(e) => setApiKey(e.target.value)}
              placeholder={`Paste your ${name} API key`}
              required
            />
          </label>
          {isDemo && <p className="muted small">Demo: the demo account&apos;s key is filled in.</p>}
          <div className="card-actions">
            <button type="submit" className="button primary" disabled={withKey.isPending}>
              Connect with API key
            </button>
            <button type="button" className="button subtle" onClick={() => setShowKeyForm(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}

      {confirming && (
        <ConfirmDialog
          title={`Disconnect ${name}`}
          message={`Disconnect ${name}? Future syncs will stop. Your imported calls will be kept.`}
          confirmLabel="Disconnect"
          busy={disconnect.isPending}
          onCancel={() => setConfirming(false)}
          onConfirm={() => disconnect.mutate()}
        />
      )}
    </section>
  );
}
