import { Link, useParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import Markdown from 'react-markdown';
import { ApiError } from '../api/client';
import type { RecordingDetail } from '../api/types';
import { useHub } from '../context';
import { duration, formatDateTime, sourceName, timestamp } from '../lib/format';

/** Only links that go somewhere safe are kept in a summary. */
function safeUrl(url: string): string {
  return /^(https?:|mailto:)/i.test(url) ? url : '';
}

function Summary({ markdown }: { markdown: string }) {
  // react-markdown renders no raw HTML unless told to: a summary cannot inject markup.
  return (
    <div className="markdown">
      <Markdown skipHtml urlTransform={safeUrl}>
        {markdown}
      </Markdown>
    </div>
  );
}

function Participants({ recording }: { recording: RecordingDetail }) {
  if (!recording.participants.length) return <p className="muted">No participants recorded.</p>;
  return (
    <ul className="people">
      {recording.participants.map((p, i) => (
        <li key={`${p.email ?? p.name ?? ''}-${i}`}>
          <span>{p.name ?? p.email ?? 'Unknown'}</span>
          {p.name && p.email && <span className="muted small"> {p.email}</span>}{' '}
          <span className={`badge ${p.is_external ? 'external' : 'internal'}`}>{p.is_external ? 'External' : 'Internal'}</span>
        </li>
      ))}
    </ul>
  );
}

export function MeetingPage() {
  const { id = '' } = useParams();
  const { api } = useHub();
  const { data, isLoading, error } = useQuery({
    queryKey: ['recording', id],
    queryFn: () => api.recording(id),
    retry: (count, e) => !(e instanceof ApiError && e.status === 404) && count < 2,
  });

  if (isLoading) return <p className="muted">Loading the call…</p>;
  if (error || !data) {
    const missing = error instanceof ApiError && error.status === 404;
    return (
      <>
        <h1>{missing ? 'Call not found' : 'The call could not be loaded'}</h1>
        <p className="muted">{missing ? 'It may have been removed, or it belongs to someone else.' : error?.message}</p>
        <Link to="/calls">Back to calls</Link>
      </>
    );
  }
  return (
    <article className="meeting">
      <p>
        <Link to="/calls">← All calls</Link>
      </p>
      <h1>{data.title}</h1>
      <p className="muted">
        {sourceName(data.source)} · {formatDateTime(data.started_at ?? data.created_at)}
        {data.duration_seconds ? ` · ${duration(data.duration_seconds)}` : ''}
        {data.share_url && (
          <>
            {' · '}
            <a href={safeUrl(data.share_url)} target="_blank" rel="noreferrer">
              Open in {sourceName(data.source)}
            </a>
          </>
        )}
      </p>
      <div className="meeting-grid">
        <div>
          <section aria-labelledby="summary-h" className="panel">
            <h2 id="summary-h">Summary</h2>
            {data.summary_markdown ? <Summary markdown={data.summary_markdown} /> : <p className="muted">No summary.</p>}
          </section>
          <section aria-labelledby="transcript-h" className="panel">
            <h2 id="transcript-h">Transcript</h2>
            {data.transcript.length === 0 ? (
              <p className="muted">No transcript.</p>
            ) : (
              <ol className="transcript">
                {data.transcript.map((s, i) => (
                  <li key={i}>
                    <time className="muted small">{timestamp(s.start_seconds)}</time>{' '}
                    <strong className="speaker">{s.speaker ?? 'Speaker'}</strong>
                    <p>{s.text}</p>
                  </li>
                ))}
              </ol>
            )}
          </section>
        </div>
        <aside>
          <section aria-labelledby="people-h" className="panel">
            <h2 id="people-h">Participants</h2>
            <Participants recording={data} />
          </section>
          <section aria-labelledby="actions-h" className="panel">
            <h2 id="actions-h">Action items</h2>
            {data.action_items.length === 0 ? (
              <p className="muted">No action items.</p>
            ) : (
              <ul className="actions-list">
                {data.action_items.map((a, i) => (
                  <li key={i}>
                    <input type="checkbox" checked={a.completed} readOnly aria-label={a.completed ? 'Done' : 'Open'} />{' '}
                    {a.description}
                    {(a.assignee_name || a.assignee_email) && (
                      <span className="muted small">
                        {' '}
                        — {a.assignee_name ?? a.assignee_email}
                        {a.assignee_is_internal ? '' : ' (external)'}
                      </span>
                    )}
                    {a.timestamp_seconds != null && <span className="muted small"> at {timestamp(a.timestamp_seconds)}</span>}
                  </li>
                ))}
              </ul>
            )}
          </section>
        </aside>
      </div>
    </article>
  );
}
