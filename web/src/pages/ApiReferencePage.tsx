import { lazy, Suspense } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useHub } from '../context';

// The viewer (Scalar) is large: it is its own chunk, fetched once the document has arrived.
const ApiViewer = lazy(() => import('./ApiViewer').then((m) => ({ default: m.ApiViewer })));

/** The API reference: the contract the API serves (`GET /openapi.json`), in a viewer. */
export function ApiReferencePage() {
  const { api } = useHub();
  const { data: spec, error, isPending } = useQuery({
    queryKey: ['openapi'],
    queryFn: () => api.openapi(),
    staleTime: Infinity,
  });
  return (
    <section className="api-reference" aria-labelledby="api-reference-title">
      <h1 id="api-reference-title">{spec ? spec.info.title : 'API reference'}</h1>
      {spec && (
        <p className="muted">
          Version {spec.info.version} ·{' '}
          <a href={api.url('/openapi.json')} target="_blank" rel="noreferrer">
            openapi.json
          </a>
        </p>
      )}
      {isPending && <p className="muted">Loading the API reference…</p>}
      {error && (
        <p role="alert" className="error">
          The API reference could not be loaded: {error.message}
        </p>
      )}
      {spec && (
        <Suspense fallback={<p className="muted">Loading the viewer…</p>}>
          <ApiViewer spec={spec} baseUrl={api.url('')} />
        </Suspense>
      )}
    </section>
  );
}
