import { createContext, useCallback, useContext, useMemo, useReducer, type ReactNode } from 'react';
import { ApiError, type ApiClient } from './api/client';
import type { UploadStarted } from './api/types';
import { useHub } from './context';
import { formatDay } from './lib/format';

/** What the API takes, by extension, with the content type sent when the browser gives none. */
export const ACCEPTED_TYPES: Record<string, string> = {
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  m4a: 'audio/mp4',
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
};
export const ACCEPT_ATTRIBUTE = Object.keys(ACCEPTED_TYPES)
  .map((ext) => `.${ext}`)
  .concat(Object.values(ACCEPTED_TYPES))
  .join(',');

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** Why a file cannot be uploaded, decided before anything is sent; null when it can. */
export function refusal(file: { name: string; size: number }): string | null {
  const ext = extensionOf(file.name);
  if (!ACCEPTED_TYPES[ext]) {
    return `${ext ? `.${ext} files are` : 'This file is'} not supported: upload MP3, WAV, M4A, MP4, MOV or WebM.`;
  }
  if (file.size === 0) return 'The file is empty.';
  return null;
}

export type RowStatus = 'refused' | 'starting' | 'uploading' | 'processing' | 'failed-upload';

export interface UploadRow {
  key: string;
  filename: string;
  size: number;
  status: RowStatus;
  percent: number;
  uploadId: string | null;
  message: string | null;
  file: File;
}

type Action =
  | { type: 'add'; rows: UploadRow[] }
  | { type: 'update'; key: string; patch: Partial<UploadRow> }
  | { type: 'remove'; key: string };

function reducer(rows: UploadRow[], action: Action): UploadRow[] {
  switch (action.type) {
    case 'add':
      return [...action.rows, ...rows];
    case 'update':
      return rows.map((row) => (row.key === action.key ? { ...row, ...action.patch } : row));
    case 'remove':
      return rows.filter((row) => row.key !== action.key);
  }
}

/** PUTs the file where the API said, reporting progress; resolves on a 2xx answer. */
export function putFile(target: UploadStarted, file: File, onProgress: (percent: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(target.method || 'PUT', target.upload_url);
    for (const [name, value] of Object.entries(target.headers ?? {})) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
    };
    xhr.onload = () =>
      xhr.status >= 200 && xhr.status < 300
        ? resolve()
        : reject(new Error(`The file could not be stored (HTTP ${xhr.status}).`));
    xhr.onerror = () => reject(new Error('The upload was interrupted. Check your connection and retry.'));
    xhr.send(file);
  });
}

/** The reason shown for a refused start: size and quota answers say so plainly. */
export function startError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 429) {
      const resets = typeof error.details.resets_at === 'string' ? error.details.resets_at : null;
      return `Monthly import limit reached${resets ? `; it resets on ${formatDay(resets)}` : ''}.`;
    }
    if (error.status === 413) return `Too large: ${error.message}`;
    return error.message;
  }
  return error instanceof Error ? error.message : 'The upload could not start.';
}

let counter = 0;

async function run(api: ApiClient, row: UploadRow, update: (patch: Partial<UploadRow>) => void) {
  let started: UploadStarted;
  try {
    started = await api.startUpload({
      filename: row.filename,
      content_type: row.file.type || ACCEPTED_TYPES[extensionOf(row.filename)] || 'application/octet-stream',
      size_bytes: row.size,
    });
  } catch (error) {
    update({ status: 'refused', message: startError(error) });
    return;
  }
  update({ status: 'uploading', uploadId: started.upload_id, percent: 0 });
  try {
    await putFile(started, row.file, (percent) => update({ percent }));
    update({ status: 'processing', percent: 100 });
  } catch (error) {
    update({ status: 'failed-upload', message: error instanceof Error ? error.message : String(error) });
  }
}

interface UploadsValue {
  rows: UploadRow[];
  addFiles: (files: File[]) => void;
  restart: (key: string) => void;
  dismiss: (key: string) => void;
}

const UploadsContext = createContext<UploadsValue | null>(null);

export function UploadsProvider({ children }: { children: ReactNode }) {
  const { api } = useHub();
  const [rows, dispatch] = useReducer(reducer, []);

  const start = useCallback(
    (row: UploadRow) => void run(api, row, (patch) => dispatch({ type: 'update', key: row.key, patch })),
    [api],
  );

  const addFiles = useCallback(
    (files: File[]) => {
      const added = files.map((file): UploadRow => {
        const refused = refusal(file);
        return {
          key: `u${++counter}`,
          filename: file.name,
          size: file.size,
          status: refused ? 'refused' : 'starting',
          percent: 0,
          uploadId: null,
          message: refused,
          file,
        };
      });
      dispatch({ type: 'add', rows: added });
      // Every accepted file uploads at once, each on its own.
      added.filter((row) => row.status === 'starting').forEach(start);
    },
    [start],
  );

  const restart = useCallback(
    (key: string) => {
      const row = rows.find((r) => r.key === key);
      if (!row) return;
      const fresh = { ...row, status: 'starting' as const, percent: 0, message: null, uploadId: null };
      dispatch({ type: 'update', key, patch: fresh });
      start(fresh);
    },
    [rows, start],
  );

  const dismiss = useCallback((key: string) => dispatch({ type: 'remove', key }), []);

  const value = useMemo(() => ({ rows, addFiles, restart, dismiss }), [rows, addFiles, restart, dismiss]);
  return <UploadsContext.Provider value={value}>{children}</UploadsContext.Provider>;
}

export function useUploads(): UploadsValue {
  const value = useContext(UploadsContext);
  if (!value) throw new Error('useUploads must be used inside <UploadsProvider>');
  return value;
}
