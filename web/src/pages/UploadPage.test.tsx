import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { mockApi, renderWithHub } from '../test/harness';
import { UploadPage } from './UploadPage';

/** An XMLHttpRequest that reports progress in two steps and answers 200. */
class FakeXhr {
  static sent: { method: string; url: string; headers: Record<string, string> }[] = [];
  upload: { onprogress: ((e: { lengthComputable: boolean; loaded: number; total: number }) => void) | null } = {
    onprogress: null,
  };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  status = 0;
  private method = '';
  private url = '';
  private headers: Record<string, string> = {};
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send() {
    FakeXhr.sent.push({ method: this.method, url: this.url, headers: this.headers });
    setTimeout(() => this.upload.onprogress?.({ lengthComputable: true, loaded: 40, total: 100 }), 5);
    setTimeout(() => {
      this.status = 200;
      this.onload?.();
    }, 30);
  }
}

function file(name: string, type = 'audio/wav', size = 100) {
  return new File([new Uint8Array(size)], name, { type });
}

function drop(files: File[]) {
  fireEvent.drop(screen.getByTestId('dropzone'), { dataTransfer: { files } });
}

afterEach(() => {
  FakeXhr.sent = [];
  vi.unstubAllGlobals();
});

describe('uploading', () => {
  test('files of other types are refused before anything is sent', async () => {
    const { calls } = mockApi({});
    renderWithHub(<UploadPage />);
    drop([file('notes.txt', 'text/plain'), file('slides.pdf', 'application/pdf')]);
    expect(await screen.findByText('Not uploaded: .txt files are not supported: upload MP3, WAV, M4A, MP4, MOV or WebM.')).toBeInTheDocument();
    expect(screen.getByText(/\.pdf files are not supported/)).toBeInTheDocument();
    expect(calls.filter((c) => c.path === '/uploads')).toEqual([]);
  });

  test('each file uploads on its own to the presigned URL, then shows transcription and the result', async () => {
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
    let polls = 0;
    mockApi({
      'POST /uploads': (call) => {
        const name = (call.body as { filename: string }).filename;
        return {
          status: 201,
          body: {
            upload_id: `upl_${name}`,
            upload_url: `http://storage.test/${name}`,
            method: 'PUT',
            headers: { 'content-type': 'audio/wav' },
            expires_at: '',
          },
        };
      },
      'GET /uploads/upl_a.wav': () => {
        polls += 1;
        return {
          body: {
            id: 'upl_a.wav',
            filename: 'a.wav',
            status: polls < 2 ? 'transcribing' : 'completed',
            progress: { chunks_done: 2, chunks_total: 5 },
            recording_id: polls < 2 ? null : 'rec_1',
            error: null,
            created_at: '',
          },
        };
      },
      'GET /uploads/upl_b.mp3': {
        body: { id: 'upl_b.mp3', filename: 'b.mp3', status: 'failed', progress: { chunks_done: 0, chunks_total: 0 }, recording_id: null, error: 'the file is not audio', created_at: '' },
      },
      'POST /uploads/upl_b.mp3/retry': {
        status: 202,
        body: { id: 'upl_b.mp3', filename: 'b.mp3', status: 'uploaded', progress: { chunks_done: 0, chunks_total: 0 }, recording_id: null, error: null, created_at: '' },
      },
    });
    renderWithHub(<UploadPage />);
    drop([file('a.wav'), file('b.mp3', '')]);
    const rowA = () => screen.getByText('a.wav').closest('li') as HTMLElement;
    const rowB = () => screen.getByText('b.mp3').closest('li') as HTMLElement;
    expect(await within(rowA()).findByText('Transcribing 2/5')).toBeInTheDocument();
    expect(await within(rowA()).findByRole('link', { name: 'Open recording' }, { timeout: 3000 })).toHaveAttribute('href', '/meetings/rec_1');
    expect(await within(rowB()).findByText('Failed: the file is not audio')).toBeInTheDocument();
    // Both went up at once, each with the method and headers the API returned.
    expect(FakeXhr.sent.map((s) => s.url).sort()).toEqual(['http://storage.test/a.wav', 'http://storage.test/b.mp3']);
    expect(FakeXhr.sent[0]).toMatchObject({ method: 'PUT', headers: { 'content-type': 'audio/wav' } });
    await userEvent.click(within(rowB()).getByRole('button', { name: 'Retry' }));
    expect(await within(rowB()).findByText('Queued for transcription…')).toBeInTheDocument();
  });

  test('shows upload percentage while the file goes up', async () => {
    vi.stubGlobal('XMLHttpRequest', class extends FakeXhr {
      send() {
        setTimeout(() => this.upload.onprogress?.({ lengthComputable: true, loaded: 40, total: 100 }), 5);
      }
    });
    mockApi({ 'POST /uploads': { status: 201, body: { upload_id: 'u1', upload_url: 'http://s/x', method: 'PUT', headers: {}, expires_at: '' } } });
    renderWithHub(<UploadPage />);
    drop([file('long.m4a', 'audio/mp4')]);
    expect(await screen.findByText('Uploading 40%')).toBeInTheDocument();
  });

  test('size and quota refusals are shown per file', async () => {
    mockApi({
      'POST /uploads': (call) =>
        (call.body as { filename: string }).filename === 'huge.mov'
          ? { status: 413, body: { error: { code: 'file_too_large', message: 'the largest upload accepted is 500 MB' } } }
          : {
              status: 429,
              body: { error: { code: 'quota_exceeded', message: 'used up', resets_at: '2027-01-01T00:00:00Z' } },
            },
    });
    renderWithHub(<UploadPage />);
    drop([file('huge.mov', 'video/quicktime'), file('one-more.webm', 'video/webm')]);
    expect(await screen.findByText('Not uploaded: Too large: the largest upload accepted is 500 MB')).toBeInTheDocument();
    expect(await screen.findByText('Not uploaded: Monthly import limit reached; it resets on 1 January.')).toBeInTheDocument();
  });

  test('the file button takes many files', async () => {
    mockApi({});
    renderWithHub(<UploadPage />);
    const input = screen.getByLabelText('Choose files to upload') as HTMLInputElement;
    expect(input.multiple).toBe(true);
    await userEvent.upload(input, [file('x.txt', 'text/plain')], { applyAccept: false });
    await waitFor(() => expect(screen.getByText(/\.txt files are not supported/)).toBeInTheDocument());
  });
});
