import type {
  Activity,
  DemoInfo,
  FailedImport,
  OpenApiDocument,
  Job,
  Me,
  Page,
  ProviderMeeting,
  RecordingDetail,
  RecordingListItem,
  SourceItem,
  UploadStarted,
  UploadView,
  Usage,
} from './types';

/** An error answer of the API: `{"error": {"code", "message", ...}}` with its HTTP status. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export type GetToken = () => Promise<string | null> | string | null;

/** True for an answer that means "this server does not have that part of the API yet". */
export function isMissing(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405 || error.status === 501);
}

function joinUrl(base: string, path: string): string {
  if (!base) return path;
  return base.replace(/\/+$/, '') + path;
}

function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly getToken: GetToken;

  constructor(baseUrl: string, getToken: GetToken) {
    this.baseUrl = baseUrl;
    this.getToken = getToken;
  }

  url(path: string): string {
    return joinUrl(this.baseUrl, path);
  }

  async request<T>(method: string, path: string, body?: unknown, init: { auth?: boolean } = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (init.auth !== false) {
      const token = await this.getToken();
      if (token) headers.Authorization = `Bearer ${token}`;
    }
    let response: Response;
    try {
      response = await fetch(this.url(path), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
      });
    } catch {
      throw new ApiError(0, 'network_error', 'The server could not be reached. Check your connection and try again.');
    }
    const text = await response.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const error = (data as { error?: Record<string, unknown> } | null)?.error ?? {};
      const code = typeof error.code === 'string' ? error.code : `http_${response.status}`;
      const message =
        typeof error.message === 'string' ? error.message : `The server answered ${response.status}.`;
      throw new ApiError(response.status, code, message, error);
    }
    return data as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** The API's OpenAPI document (`GET /openapi.json`, public). */
  openapi() {
    return this.request<OpenApiDocument>('GET', '/openapi.json', undefined, { auth: false });
  }

  // Sources and connecting
  sources(scope?: 'workspace') {
    return this.get<Page<SourceItem>>(`/sources${query({ scope })}`);
  }
  setActive(source: string, active: boolean) {
    return this.request<SourceItem>('PATCH', `/sources/${source}`, { active });
  }
  setSharing(source: string, sharing: 'workspace' | 'private') {
    return this.request<SourceItem>('PATCH', `/sources/${source}`, { sharing });
  }
  disconnect(source: string) {
    return this.request<SourceItem>('DELETE', `/sources/${source}`);
  }
  connectApiKey(source: string, apiKey: string) {
    return this.request<SourceItem>('POST', `/sources/${source}/api-key`, { api_key: apiKey });
  }
  initiateOAuth(source: string, returnPath: string) {
    return this.request<{ authorization_url: string }>('POST', `/oauth/${source}/initiate`, {
      return_path: returnPath,
    });
  }
  confirmOAuth(source: string, ticket: string) {
    return this.request<SourceItem | Record<string, unknown>>('POST', `/oauth/${source}/confirm`, { ticket });
  }

  // Jobs
  sync(source: string, externalIds?: string[]) {
    return this.request<{ job_id: string }>('POST', '/sync', externalIds ? { source, external_ids: externalIds } : { source });
  }
  job(id: string) {
    return this.get<Job>(`/jobs/${encodeURIComponent(id)}`);
  }
  jobs(limit = 50, source?: string) {
    return this.get<Page<Job>>(`/jobs${query({ limit, source })}`);
  }
  retryJob(id: string, externalIds?: string[]) {
    return this.request<{ job_id: string }>(
      'POST',
      `/jobs/${encodeURIComponent(id)}/retry`,
      externalIds ? { external_ids: externalIds } : undefined,
    );
  }

  // Recordings
  recordings(params: { q?: string; source?: string; cursor?: string | null; limit?: number }) {
    return this.get<Page<RecordingListItem>>(
      `/recordings${query({ q: params.q, source: params.source, cursor: params.cursor, limit: params.limit ?? 25 })}`,
    );
  }
  recording(id: string) {
    return this.get<RecordingDetail>(`/recordings/${encodeURIComponent(id)}`);
  }
  providerMeetings(source: string) {
    return this.get<Page<ProviderMeeting>>(`/meetings${query({ source })}`);
  }

  // Uploads
  startUpload(file: { filename: string; content_type: string; size_bytes: number }) {
    return this.request<UploadStarted>('POST', '/uploads', file);
  }
  upload(id: string) {
    return this.get<UploadView>(`/uploads/${encodeURIComponent(id)}`);
  }
  uploads(limit = 50) {
    return this.get<Page<UploadView>>(`/uploads${query({ limit })}`);
  }
  retryUpload(id: string) {
    return this.request<UploadView>('POST', `/uploads/${encodeURIComponent(id)}/retry`);
  }

  // Failed imports, usage, team
  failedImports() {
    return this.get<Page<FailedImport>>('/failed-imports');
  }
  retryAllFailed() {
    return this.request<{ job_ids?: string[] }>('POST', '/failed-imports/retry');
  }
  usage() {
    return this.get<Usage>('/usage');
  }
  me() {
    return this.get<Me>('/me');
  }
  activity(params: { source?: string; cursor?: string | null } = {}) {
    return this.get<Page<Activity>>(`/activity${query(params)}`);
  }

  // Dev server only
  demo() {
    return this.request<DemoInfo>('GET', '/dev/demo', undefined, { auth: false });
  }
  devToken(name: string, workspace?: string, role?: string) {
    return this.request<{ token: string }>(
      'POST',
      '/dev/token',
      { name, workspace: workspace || undefined, role: role || undefined },
      { auth: false },
    );
  }
}
