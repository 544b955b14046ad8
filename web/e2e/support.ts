import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { inject } from 'vitest';

export const baseURL = inject('baseURL');
const screenshotDir = inject('screenshotDir');

/** Debian's Chromium, headless, kept off the network but for loopback. */
export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
}

export async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  return { context, page };
}

/** Signs in on the dev server's sign-in screen as `name`, a fresh user. */
export async function signIn(page: Page, name: string) {
  await page.goto('/');
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: `Continue as ${name}` }).click();
  await page.getByRole('heading', { name: 'Sources', level: 1 }).waitFor();
}

export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}

/** Runs a test's steps and saves its screenshot whether they pass or fail. */
export async function withScreenshot(page: Page, name: string, steps: () => Promise<void>) {
  try {
    await steps();
  } finally {
    await screenshot(page, name).catch(() => undefined);
  }
}

/** A dev server call as `user` (API setup a test needs but does not test). */
export async function api(path: string, init: { method?: string; body?: unknown; token?: string } = {}) {
  const response = await fetch(`${baseURL}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      'content-type': 'application/json',
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

export async function token(name: string): Promise<string> {
  const { body } = await api('/dev/token', { method: 'POST', body: { name } });
  return body.token as string;
}

/** 16-bit mono PCM WAV: tones at `frequencies`, each `toneSeconds` long, with silence between. */
export function toneWav(frequencies: number[], toneSeconds = 0.8, gapSeconds = 0.5, rate = 16000): Buffer {
  const samples: number[] = [];
  const gap = Math.round(gapSeconds * rate);
  for (const f of frequencies) {
    for (let i = 0; i < gap; i++) samples.push(0);
    const n = Math.round(toneSeconds * rate);
    for (let i = 0; i < n; i++) samples.push(Math.round(Math.sin((2 * Math.PI * f * i) / rate) * 0.6 * 32767));
  }
  for (let i = 0; i < gap; i++) samples.push(0);
  const data = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => data.writeInt16LE(s, i * 2));
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** Drops files on the element as a user dragging them from the desktop would. */
export async function dropFiles(page: Page, selector: string, files: { name: string; type: string; bytes: Buffer }[]) {
  const payload = files.map((f) => ({ name: f.name, type: f.type, data: f.bytes.toString('base64') }));
  const dataTransfer = await page.evaluateHandle((list) => {
    const transfer = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], f.name, { type: f.type }));
    }
    return transfer;
  }, payload);
  await page.dispatchEvent(selector, 'dragover', { dataTransfer });
  await page.dispatchEvent(selector, 'drop', { dataTransfer });
}
