import { useState } from 'react';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { isMissing } from '../api/client';
import { useHub } from '../context';
import { useMe } from '../hooks';
import { formatDateTime, relativeTime, sourceName, STATUS_LABELS } from '../lib/format';

function WorkspaceSources() {
  const { api } = useHub();
  const { data, error } = useQuery({
    queryKey: ['sources', 'workspace'],
    queryFn: () => api.sources('workspace'),
  });
  if (error) return <p className="error-text">Members’ sources could not be loaded: {error.message}</p>;
  if (!data) return <p className="muted">Loading…</p>;
  const rows = data.items.filter((i) => i.source !== 'upload');
  return (
    <table className="table">
      <caption className="visually-hidden">Every member’s connected sources</caption>
      <thead>
        <tr>
          <th scope="col">Member</th>
          <th scope="col">Source</th>
          <th scope="col">Account</th>
          <th scope="col">Status</th>
          <th scope="col">Sharing</th>
          <th scope="col">Last sync</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((item) => (
          <tr key={`${item.user_id}-${item.source}-${item.connection_id}`}>
            <td>{item.user_id ?? '—'}</td>
            <td>{sourceName(item.source)}</td>
            <td>{item.account_email ?? '—'}</td>
            <td>{STATUS_LABELS[item.status] ?? item.status}</td>
            <td>{item.sharing === 'private' ? 'Private' : 'Workspace'}</td>
            <td>{relativeTime(item.last_sync_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ActivityLog() {
  const { api } = useHub();
  const [source, setSource] = useState('');
  const activity = useInfiniteQuery({
    queryKey: ['activity', source],
    queryFn: async ({ pageParam }) => {
      try {
        return await api.activity({ source: source || undefined, cursor: pageParam });
      } catch (error) {
        if (isMissing(error)) return { items: [], next_cursor: null, missing: true };
        throw error;
      }
    },
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? null,
  });
  const pages = activity.data?.pages ?? [];
  if (pages.some((p) => 'missing' in p)) return <p className="muted">This server does not keep an activity log yet.</p>;
  const items = pages.flatMap((p) => p.items);
  return (
    <>
      <label className="field inline">
        <span>Source</span>
        <select value={source} onChange={(e) => setSource(e.target.value)}>
          <option value="">All</option>
          <option value="fathom">Fathom</option>
          <option value="zoom">Zoom</option>
          <option value="upload">Uploads</option>
        </select>
      </label>
      {items.length === 0 && !activity.isLoading && <p className="muted">No activity yet.</p>}
      <ol className="activity">
        {items.map((a) => (
          <li key={a.id}>
            <time dateTime={a.at} className="muted small">
              {formatDateTime(a.at)}
            </time>{' '}
            <strong>{a.user_id}</strong> · {sourceName(a.source)} · {a.message}
          </li>
        ))}
      </ol>
      {activity.hasNextPage && (
        <button type="button" className="button" onClick={() => void activity.fetchNextPage()}>
          Load more
        </button>
      )}
    </>
  );
}

export function TeamPage() {
  const { data: me, isLoading } = useMe();
  if (isLoading) return <p className="muted">Loading…</p>;
  if (!me || me.personal) {
    return (
      <>
        <h1>Team</h1>
        <p className="muted">Team features appear when you are signed in to a workspace.</p>
      </>
    );
  }
  return (
    <>
      <div className="page-head">
        <h1>Team</h1>
        <p className="muted">
          Workspace <strong>{me.workspace_id}</strong> · you are {me.role === 'admin' ? 'an admin' : 'a member'}
        </p>
      </div>
      {me.role === 'admin' && (
        <section className="panel" aria-labelledby="members-h">
          <h2 id="members-h">Members’ sources</h2>
          <WorkspaceSources />
        </section>
      )}
      <section className="panel" aria-labelledby="activity-h">
        <h2 id="activity-h">Activity</h2>
        <ActivityLog />
      </section>
    </>
  );
}
