// The JSON shapes of the callsync HTTP API (shared/src/views.rs and the function handlers).
// Fields marked optional are newer parts of the API that a server may not send yet.

export type SourceId = 'fathom' | 'zoom' | 'upload' | (string & {});

export type SourceStatus =
  | 'active'
  | 'paused'
  | 'error'
  | 'needs_reauth'
  | 'disconnected'
  | 'not_connected'
  | 'available';

export type JobStatus = 'queued' | 'running' | 'completed' | 'completed_with_errors' | 'failed';

export interface ItemReason {
  external_id: string;
  reason: string;
  title?: string | null;
}

export interface Job {
  id: string;
  kind: 'manual' | 'initial' | 'scheduled' | 'webhook' | 'upload' | (string & {});
  source: SourceId;
  status: JobStatus;
  progress: { current: number; total: number | null };
  counts: {
    imported: number;
    updated: number;
    skipped: number;
    failed: number;
    not_imported?: number;
    /** Recordings sent for transcription: each becomes an upload that imports the meeting. */
    transcribing?: number;
  };
  failed_items: ItemReason[];
  skipped_items: ItemReason[];
  not_imported_items?: ItemReason[];
  summary: string | null;
  created_at: string;
  finished_at: string | null;
  retry_of?: string | null;
}

export interface SourceItem {
  source: SourceId;
  connection_id: string | null;
  status: SourceStatus;
  active: boolean;
  account_email: string | null;
  last_sync_at: string | null;
  last_error: string | null;
  recording_count: number;
  current_job: Job | null;
  sharing?: 'workspace' | 'private';
  connect_methods?: ('oauth' | 'api_key')[];
  user_id?: string;
}

export interface RecordingListItem {
  id: string;
  source: SourceId;
  external_id: string;
  title: string;
  started_at: string | null;
  duration_seconds: number | null;
  participant_count: number;
  has_summary: boolean;
  created_at: string;
}

export interface Participant {
  name: string | null;
  email: string | null;
  is_external: boolean;
}

export interface TranscriptSegment {
  speaker: string | null;
  start_seconds: number;
  text: string;
}

export interface ActionItem {
  description: string;
  assignee_name: string | null;
  assignee_email: string | null;
  assignee_is_internal: boolean;
  completed: boolean;
  timestamp_seconds: number | null;
}

export interface RecordingDetail {
  id: string;
  source: SourceId;
  external_id: string;
  title: string;
  started_at: string | null;
  ended_at: string | null;
  duration_seconds: number | null;
  participants: Participant[];
  transcript: TranscriptSegment[];
  summary_markdown: string | null;
  action_items: ActionItem[];
  url: string | null;
  share_url: string | null;
  created_at: string;
  updated_at: string;
}

export type UploadStatus = 'pending' | 'uploaded' | 'transcribing' | 'completed' | 'failed' | 'duplicate';

export interface UploadView {
  id: string;
  filename: string;
  status: UploadStatus;
  progress: { chunks_done: number; chunks_total: number };
  recording_id: string | null;
  error: string | null;
  created_at: string;
  next_attempt_at?: string | null;
}

export interface UploadStarted {
  upload_id: string;
  upload_url: string;
  method: string;
  headers: Record<string, string>;
  expires_at: string;
}

export interface Usage {
  imports_this_month: number;
  limit: number | null;
  resets_at: string;
}

export interface FailedImport {
  kind: 'sync' | 'upload';
  job_id: string;
  upload_id?: string | null;
  source: SourceId;
  external_id: string;
  title: string;
  reason: string;
  failed_at: string;
}

export interface Me {
  user_id: string;
  workspace_id: string | null;
  role: 'admin' | 'member';
  personal: boolean;
}

export interface Activity {
  id: string;
  at: string;
  user_id: string;
  source: SourceId;
  action: string;
  message: string;
}

export interface ProviderMeeting {
  external_id?: string;
  recording_id?: string | number;
  id?: string | number;
  title?: string;
  synced?: boolean;
}

export interface DemoInfo {
  demo: boolean;
  providers: Record<string, { account_email?: string; connect_methods?: string[] }>;
  fathom_api_key: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/** The API's contract (openapi/openapi.yaml, served at `GET /openapi.json`). */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; summary?: string; description?: string };
  paths: Record<string, unknown>;
  [key: string]: unknown;
}
