import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { keepPreviousData, useInfiniteQuery } from '@tanstack/react-query';
import { useHub } from '../context';
import { duration, formatDateTime, plural, sourceName } from '../lib/format';

const SOURCES = ['fathom', 'zoom', 'upload'];

export function CallsPage() {
  const { api } = useHub();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const source = params.get('source') ?? '';
  const [text, setText] = useState(q);
  const [shownQ, setShownQ] = useState(q);
  // A search changed from outside (a link, going back) replaces what the box shows.
  if (q !== shownQ) {
    setShownQ(q);
    setText(q);
  }
  // Search as you type, after a short pause.
  useEffect(() => {
    if (text === q) return;
    const timer = setTimeout(() => {
      const next = new URLSearchParams(params);
      if (text.trim()) next.set('q', text.trim());
      else next.delete('q');
      setParams(next, { replace: true });
    }, 250);
    return () => clearTimeout(timer);
  }, [text, q, params, setParams]);

  const recordings = useInfiniteQuery({
    queryKey: ['recordings', { q, source }],
    queryFn: ({ pageParam }) => api.recordings({ q, source, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? null,
    // The last results stay on screen while a new search loads.
    placeholderData: keepPreviousData,
  });
  const items = recordings.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <>
      <div className="page-head">
        <h1>Calls</h1>
        <p className="muted">Everything imported, newest first.</p>
      </div>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label className="field">
          <span>Search</span>
          <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="Titles and transcripts" />
        </label>
        <label className="field">
          <span>Source</span>
          <select
            value={source}
            onChange={(e) => {
              const next = new URLSearchParams(params);
              if (e.target.value) next.set('source', e.target.value);
              else next.delete('source');
              setParams(next, { replace: true });
            }}
          >
            <option value="">All sources</option>
            {SOURCES.map((s) => (
              <option key={s} value={s}>
                {sourceName(s)}
              </option>
            ))}
          </select>
        </label>
      </form>
      {recordings.isLoading && <p className="muted">Loading calls…</p>}
      {recordings.error && <p className="error-text">Calls could not be loaded: {recordings.error.message}</p>}
      {!recordings.isLoading && items.length === 0 && !recordings.error && (
        <p className="muted">{q || source ? 'No calls match.' : 'No calls yet: connect a source or upload a file.'}</p>
      )}
      <ul className="calls" aria-label="Calls">
        {items.map((r) => (
          <li key={r.id} className="call">
            <Link to={`/meetings/${r.id}`} className="call-title">
              {r.title}
            </Link>
            <span className="muted small">
              {sourceName(r.source)} · {formatDateTime(r.started_at ?? r.created_at)}
              {r.duration_seconds ? ` · ${duration(r.duration_seconds)}` : ''} · {plural(r.participant_count, 'participant')}
              {r.has_summary ? ' · summary' : ''}
            </span>
          </li>
        ))}
      </ul>
      {recordings.hasNextPage && (
        <button
          type="button"
          className="button"
          onClick={() => void recordings.fetchNextPage()}
          disabled={recordings.isFetchingNextPage}
        >
          Load more
        </button>
      )}
    </>
  );
}
