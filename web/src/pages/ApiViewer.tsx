import { ApiReferenceReact } from '@scalar/api-reference-react';
import '@scalar/api-reference-react/style.css';
import type { OpenApiDocument } from '../api/types';

/** Scalar's API reference for `spec`, its requests sent to `baseUrl` (`''` = this origin). */
export function ApiViewer({ spec, baseUrl }: { spec: OpenApiDocument; baseUrl: string }) {
  const server = baseUrl || window.location.origin;
  return (
    <div className="api-viewer" data-testid="api-viewer">
      <ApiReferenceReact
        configuration={{
          content: spec,
          servers: [{ url: server }],
          hideDownloadButton: false,
          withDefaultFonts: false,
        }}
      />
    </div>
  );
}
