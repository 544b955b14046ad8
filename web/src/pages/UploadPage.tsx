import { useEffect, useRef, useState, type DragEvent } from 'react';
import { Link } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { toast } from 'sonner';
import type { UploadView } from '../api/types';
import { useHub } from '../context';
import { ProgressBar } from '../components/ProgressBar';
import { formatDateTime, relativeTime } from '../lib/format';
import { ACCEPT_ATTRIBUTE, useUploads, type UploadRow } from '../uploads';

const TERMINAL = new Set(['completed', 'failed', 'duplicate']);

function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function useUploadStatus(uploadId: string | null, enabled: boolean) {
  const { api } = useHub();
  return useQuery({
    queryKey: ['upload', uploadId],
    queryFn: () => api.upload(uploadId as string),
    enabled: Boolean(uploadId) && enabled,
    refetchInterval: (query) => (query.state.data && TERMINAL.has(query.state.data.status) ? false : 1000),
  });
}

function serverState(view: UploadView | undefined) {
  if (!view) return { label: 'Waiting for transcription…', done: false };
  const { chunks_done, chunks_total } = view.progress;
  switch (view.status) {
    case 'pending':
    case 'uploaded':
      return { label: 'Queued for transcription…', done: false };
    case 'transcribing':
      return {
        label: chunks_total > 0 ? `Transcribing ${chunks_done}/${chunks_total}` : 'Transcribing…',
        done: false,
        progress: { value: chunks_done, max: chunks_total || null },
      };
    case 'completed':
      return { label: 'Done', done: true };
    case 'duplicate':
      return { label: 'Already imported: same file as an earlier upload', done: true };
    case 'failed':
      return { label: 'Failed', done: true };
  }
}

function Row({ row }: { row: UploadRow }) {
  const { api } = useHub();
  const queryClient = useQueryClient();
  const { restart, dismiss } = useUploads();
  const processing = row.status === 'processing';
  const { data: view } = useUploadStatus(row.uploadId, processing);
  const announced = useRef<string | null>(null);

  useEffect(() => {
    if (!view || !TERMINAL.has(view.status) || announced.current === view.status) return;
    announced.current = view.status;
    if (view.status === 'completed') toast.success(`${row.filename} imported`);
    else if (view.status === 'failed') toast.error(`${row.filename} failed`, { description: view.error ?? undefined });
    for (const key of ['recordings', 'sources', 'failed-imports', 'usage']) {
      void queryClient.invalidateQueries({ queryKey: [key] });
    }
  }, [view, row.filename, queryClient]);

  const retry = useMutation({
    mutationFn: () => api.retryUpload(row.uploadId as string),
    onSuccess: (fresh) => {
      announced.current = null;
      queryClient.setQueryData(['upload', row.uploadId], fresh);
      void queryClient.invalidateQueries({ queryKey: ['failed-imports'] });
    },
    onError: (e) => toast.error(`${row.filename}: ${e instanceof Error ? e.message : 'retry failed'}`),
  });

  let body;
  if (row.status === 'refused') {
    body = <p className="error-text small">Not uploaded: {row.message}</p>;
  } else if (row.status === 'starting') {
    body = <p className="muted small">Starting…</p>;
  } else if (row.status === 'uploading') {
    body = (
      <>
        <p className="small">Uploading {row.percent}%</p>
        <ProgressBar value={row.percent} max={100} label={`${row.filename} upload progress`} />
      </>
    );
  } else if (row.status === 'failed-upload') {
    body = (
      <>
        <p className="error-text small">{row.message}</p>
        <button type="button" className="button" onClick={() => restart(row.key)}>
          Retry
        </button>
      </>
    );
  } else {
    const state = serverState(view);
    body = (
      <>
        {view?.status === 'failed' ? (
          <>
            <p className="error-text small">Failed: {view.error ?? 'the file could not be transcribed'}</p>
            <button type="button" className="button" onClick={() => retry.mutate()} disabled={retry.isPending}>
              Retry
            </button>
          </>
        ) : (
          <p className="small">
            {state.label}
            {view?.next_attempt_at && !state.done && (
              <span className="muted"> · next attempt {relativeTime(view.next_attempt_at)}</span>
            )}
          </p>
        )}
        {!state.done && (
          <ProgressBar
            value={state.progress?.value ?? 0}
            max={state.progress?.max ?? null}
            label={`${row.filename} transcription progress`}
          />
        )}
        {view?.recording_id && (view.status === 'completed' || view.status === 'duplicate') && (
          <Link to={`/meetings/${view.recording_id}`}>Open recording</Link>
        )}
      </>
    );
  }

  const finished = row.status === 'refused' || (view && TERMINAL.has(view.status) && view.status !== 'failed');
  return (
    <li className={`upload-row status-${view?.status ?? row.status}`} aria-label={row.filename}>
      <div className="upload-name">
        <strong>{row.filename}</strong>
        <span className="muted small">{sizeText(row.size)}</span>
      </div>
      <div className="upload-state" aria-live="polite">
        {body}
      </div>
      {finished && (
        <button type="button" className="button subtle small" aria-label={`Dismiss ${row.filename}`} onClick={() => dismiss(row.key)}>
          ×
        </button>
      )}
    </li>
  );
}

export function DropZone({ onFiles }: { onFiles: (files: File[]) => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    const files = Array.from(event.dataTransfer.files);
    if (files.length) onFiles(files);
  };
  return (
    <div
      className={`dropzone ${over ? 'over' : ''}`}
      data-testid="dropzone"
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <p>
        <strong>Drop recordings here</strong>
        <br />
        <span className="muted">MP3, WAV, M4A, MP4, MOV or WebM — as many as you like</span>
      </p>
      <button type="button" className="button primary" onClick={() => input.current?.click()}>
        Choose files
      </button>
      <input
        ref={input}
        type="file"
        multiple
        accept={ACCEPT_ATTRIBUTE}
        hidden
        aria-label="Choose files to upload"
        onChange={(e) => {
          const files = Array.from(e.target.files ?? []);
          if (files.length) onFiles(files);
          e.target.value = '';
        }}
      />
    </div>
  );
}

export function UploadPage() {
  const { rows, addFiles } = useUploads();
  return (
    <>
      <div className="page-head">
        <h1>Upload recordings</h1>
        <p className="muted">Each file is transcribed and becomes a call in your library.</p>
      </div>
      <DropZone onFiles={addFiles} />
      {rows.length > 0 && (
        <section aria-labelledby="uploads-heading" className="panel">
          <h2 id="uploads-heading">This session&apos;s uploads</h2>
          <ul className="upload-list">
            {rows.map((row) => (
              <Row key={row.key} row={row} />
            ))}
          </ul>
        </section>
      )}
      <RecentUploads />
    </>
  );
}

/** Earlier uploads, on servers that list them (`GET /uploads`). */
function RecentUploads() {
  const { api } = useHub();
  const { data } = useQuery({
    queryKey: ['uploads'],
    queryFn: async () => {
      try {
        return (await api.uploads(20)).items;
      } catch {
        return null;
      }
    },
  });
  if (!data || data.length === 0) return null;
  return (
    <section aria-labelledby="recent-uploads" className="panel">
      <h2 id="recent-uploads">Recent uploads</h2>
      <ul className="plain-list">
        {data.map((u) => (
          <li key={u.id}>
            {u.recording_id ? <Link to={`/meetings/${u.recording_id}`}>{u.filename}</Link> : u.filename}{' '}
            <span className="muted small">
              {u.status} · {formatDateTime(u.created_at)}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
