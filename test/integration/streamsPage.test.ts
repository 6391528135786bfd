import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import { type Browser, chromium, type Page } from 'playwright-core';
import { httpRequest } from '../helpers/httpClient';
import { ProbeModel } from '../helpers/probeModel';
import { collect, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

// The live streams page at /streams, in Debian's Chromium: streams appear
// while they run and disappear when they end, the Cancel button stops one
// (its caller gets CANCELLED), the charts draw, nothing breaks the CSP, and
// with auth on the data needs the bearer token. docs/streams-page.png is
// the screenshot this test takes.

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];
const TOKEN = 'dashboard-token-0123456789';
const SCREENSHOT = path.join(__dirname, '../../docs/streams-page.png');

let t: TestServer;
let browser: Browser;
let page: Page;
const problems: string[] = [];

function authorized(): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${TOKEN}`);
  return metadata;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run .ci/run, which installs Debian's chromium`);
  t = await startTestServer({ auth: { tokens: [TOKEN] } });
  t.server.models.register(new ProbeModel('probe', 20));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|Refused/i.test(message.text())) problems.push(`csp: ${message.text()}`);
  });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

const rowsShown = () => page.locator('#rows tr[data-stream-id]').count();

/** Polls an async condition on the page. */
async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

it('with auth on, the data needs the token: /v1/streams is 401 without it, and the page says so', async () => {
  expect((await httpRequest(t.server.httpPort as number, '/v1/streams')).status).toBe(401);
  await page.goto(`http://127.0.0.1:${t.server.httpPort}/streams`);
  await page.locator('#status', { hasText: /^401: missing or invalid bearer token$/ }).waitFor();
});

it('shows live streams as they run, cancels one with its button, and drops each as it ends', async () => {
  await page.fill('#token', TOKEN);
  await page.press('#token', 'Enter');
  await page.dispatchEvent('#token', 'change');
  await page.locator('#status', { hasText: /^Live$/ }).waitFor();
  const first = collect(t.client.generate(request({ model: 'probe', prompt: 'a', maxTokens: 1000, streamId: 'page-first' }), authorized()));
  const second = collect(
    t.client.generate(request({ model: 'probe', prompt: 'b', maxTokens: 1000, streamId: 'page-second' }), authorized()),
  );
  await waitFor(() => t.server.store.activeCount === 2, 5000, 'two live streams');
  await page.waitForSelector('#rows tr[data-stream-id="page-first"]');
  await page.waitForSelector('#rows tr[data-stream-id="page-second"]');
  expect(await rowsShown()).toBe(2);
  const firstRow = page.locator('#rows tr[data-stream-id="page-first"] td');
  expect(await firstRow.nth(1).textContent()).toBe('probe');
  expect(await firstRow.nth(2).textContent()).toBe('default');
  await until(async () => Number(await firstRow.nth(4).textContent()) > 0, 'tokens in the first row');
  await until(async () => ((await page.locator('#rate-chart polyline').getAttribute('points')) ?? '').includes(','), 'the rate chart');
  mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });

  await page.click('#rows tr[data-stream-id="page-first"] button');
  const cancelled = await first;
  expect(cancelled.error?.code).toBe(status.CANCELLED);
  expect(cancelled.error?.details).toContain('cancelled by DELETE');
  await page.waitForSelector('#rows tr[data-stream-id="page-first"]', { state: 'detached' });
  expect(await rowsShown()).toBe(1);

  t.server.store.liveStreams()[0]?.writer.finish('stop');
  const finished = await second;
  expect(finished.error).toBeUndefined();
  await page.waitForSelector('#rows tr[data-stream-id]', { state: 'detached' });
  expect(await page.locator('#rows').textContent()).toBe('No live streams.');
  await page.locator('#ttft-now', { hasText: /^p50 [\d.]+ ms, p99 [\d.]+ ms \(\d+ streams, last 5 min\)$/ }).waitFor();
  expect(problems).toEqual([]);
});
