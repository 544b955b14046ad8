// Starts the dev server binary on a free loopback port with a fresh data directory and the
// demo providers, waits for it to answer, and stops it when the run ends (also on failure or
// interruption).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';

const WEB = resolve(import.meta.dirname, '..');
const ROOT = resolve(WEB, '..');

declare module 'vitest' {
  export interface ProvidedContext {
    baseURL: string;
    screenshotDir: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

function binary(): string {
  if (process.env.DEV_SERVER_BIN) return process.env.DEV_SERVER_BIN;
  const target = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
  const built = spawnSync('cargo', ['build', '-q', '-p', 'dev-server'], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error('cargo build -p dev-server failed');
  return join(target, 'debug', 'dev-server');
}

async function waitForHealth(url: string, child: ChildProcess, deadlineMs: number) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`the dev server exited with ${child.exitCode}; see its log`);
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the dev server did not answer ${url}/health in time`);
}

export default async function setup(project: TestProject) {
  const screenshotDir = join(ROOT, 'target', 'web-e2e');
  mkdirSync(screenshotDir, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'callsync-e2e-'));
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // Demo providers: no real provider settings may leak in from the caller's environment.
    if (/^(FATHOM_|ZOOM_|TRANSCRIBE_|DEMO$|PUBLIC_BASE_URL$|APP_BASE_URL$|IMPORTS_PER_MONTH$)/.test(name)) continue;
    env[name] = value;
  }
  Object.assign(env, {
    PORT: String(port),
    LOCAL_DATA_DIR: dataDir,
    DEV_JWT_SECRET: 'e2e-secret',
    WEB_DIST_DIR: join(WEB, 'dist'),
    RUST_LOG: env.RUST_LOG ?? 'info',
  });
  const log = createWriteStream(join(screenshotDir, 'dev-server.log'));
  const child = spawn(binary(), [], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const stop = () => {
    if (child.exitCode === null && !child.killed) child.kill('SIGKILL');
  };
  process.once('exit', stop);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await waitForHealth(baseURL, child, 60_000);
  } catch (error) {
    stop();
    throw error;
  }
  project.provide('baseURL', baseURL);
  project.provide('screenshotDir', screenshotDir);
  return async () => {
    stop();
    await new Promise((r) => setTimeout(r, 100));
    rmSync(dataDir, { recursive: true, force: true });
  };
}
