import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { httpRequest } from '../helpers/httpClient';
import { ProbeModel } from '../helpers/probeModel';
import { startTestServer, type TestServer, waitFor } from '../helpers/server';
import { TcpProxy } from '../helpers/tcpProxy';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT_DIR = path.join(__dirname, '../../test-output/browser');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let t: TestServer;
let proxy: TcpProxy;
let probe: ProbeModel;
let browser: Browser;
let page: Page;
/** Uncaught errors and CSP violations on the page: there must be none. */
const pageProblems: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: the browser test needs Debian's chromium package. Run \`bash .ci/run\` (it installs it), or \`apt-get install -y chromium\`.`,
    );
  }
  t = await startTestServer();
  probe = new ProbeModel('probe', 15);
  t.server.models.register(probe);
  // The page is served through a proxy, so the test can cut its connections for real.
  proxy = await TcpProxy.start(t.server.httpPort!);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 820, height: 860 } });
  page.on('pageerror', (error) => pageProblems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) pageProblems.push(`csp: ${message.text()}`);
  });
  await page.goto(`http://127.0.0.1:${proxy.port}/`);
  await page.waitForSelector('#model option[value=probe]', { state: 'attached' });
});

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await t?.close();
});

async function tokensShown(): Promise<number> {
  return Number(await page.locator('#count').textContent());
}

/**
 * Waits until the page shows at least `count` tokens. Polled from here: the
 * page's CSP (rightly) forbids the string eval that waitForFunction uses.
 */
async function waitForTokens(count: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await tokensShown()) < count) {
    if (Date.now() > deadline) throw new Error(`the page showed ${await tokensShown()} tokens, not ${count}, within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function startGeneration(model: string, maxTokens: number, prompt: string): Promise<void> {
  await page.getByLabel('Model').selectOption(model);
  await page.getByLabel('Max tokens').fill(String(maxTokens));
  await page.getByLabel('Prompt').fill(prompt);
  await page.getByLabel('Prompt').press('Control+Enter');
}

describe('the page at / in headless Chromium', () => {
  it('streams tokens into the page as they arrive; Stop aborts the producer on the server', async () => {
    const runsBefore = probe.runs.length;
    await startGeneration('probe', 2000, 'Count for me, slowly.');
    await waitForTokens(3);
    const early = await tokensShown();
    await waitForTokens(early + 5);
    expect(await page.locator('#output').textContent()).toMatch(/^word-0 word-1 word-2 /);
    expect(await page.locator('#ttft').textContent()).toMatch(/^\d+ ms$/);
    expect(await page.locator('#stop').isEnabled()).toBe(true);

    expect(probe.runs.length).toBe(runsBefore + 1);
    const run = probe.runs.at(-1)!;
    const streamId = (await page.locator('#stream-id').textContent())!;
    await page.getByRole('button', { name: 'Stop' }).click();
    await waitFor(() => run.abortedMs !== undefined, 2000, 'the producer to see its abort');
    const stream = t.server.registry.get(streamId)!;
    expect(stream.end?.reason).toBe('cancelled');
    expect(stream.end?.failure?.message).toContain('cancelled by DELETE');
    expect(run.tokens).toBeLessThan(2000);

    await page.waitForSelector('#status[data-state=stopped]');
    const shown = await page.locator('#output').textContent();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await page.locator('#output').textContent()).toBe(shown);
    expect(await page.locator('#stop').isDisabled()).toBe(true);
  });

  it('a cut connection mid-stream: the page resumes from the last token it showed and finishes with the full sequence', async () => {
    const prompt = 'Tell me about streams of tokens.';
    const maxTokens = 120;
    const acceptedBefore = proxy.accepted;
    // The same request as a new stream, run alongside: the sim model is deterministic, so this is the full answer.
    const expectedReply = httpRequest(t.server.httpPort!, '/v1/chat/completions', {
      body: { model: 'slow', max_tokens: maxTokens, messages: [{ role: 'user', content: prompt }] },
      timeoutMs: 10_000,
    });
    await startGeneration('slow', maxTokens, prompt);
    await waitForTokens(15);
    const streamId = (await page.locator('#stream-id').textContent())!;
    const stream = t.server.registry.get(streamId)!;
    expect(stream.end).toBeUndefined();
    proxy.sever();
    const cutAt = await tokensShown();
    expect(cutAt).toBeLessThan(maxTokens);

    await page.waitForSelector('#status[data-state=done]', { timeout: 15_000 });
    expect(Number(await page.locator('#status').getAttribute('data-resumes'))).toBeGreaterThanOrEqual(1);
    expect(proxy.accepted).toBeGreaterThan(acceptedBefore);

    const expected = await expectedReply;
    const expectedText: string = expected.json().choices[0].message.content;
    expect(expected.json().usage.completion_tokens).toBe(maxTokens);
    // And the stream the page followed, replayed from the start on the server.
    const replay = await httpRequest(t.server.httpPort!, `/v1/streams/${streamId}/events?from_seq=0`);
    const logged = replay.text
      .split('\n')
      .filter((line) => line.startsWith('data: {"seq"'))
      .flatMap((line) => JSON.parse(line.slice(6)).tokens as string[]);
    expect(logged).toHaveLength(maxTokens);
    expect(logged.join('')).toBe(expectedText);

    expect(await page.locator('#output').textContent()).toBe(expectedText);
    expect(await tokensShown()).toBe(maxTokens);
    expect(await page.locator('#status').textContent()).toMatch(
      /^Done: 120 tokens, finish reason length; resumed (once|\d+ times) after a dropped connection\.$/,
    );

    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'page-finished.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'page-phone.png'), fullPage: true });
    // Readable on a phone: nothing wider than the screen.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(pageProblems).toEqual([]);
  });
});
