import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { HttpContext, HttpHandler } from './context';
import { THEME_STYLE, pagePolicy } from './page';
import { SSE_HEARTBEAT, sseEvent, startSse } from './sse';

/** How often the live streams page gets a snapshot, in ms. */
const SNAPSHOT_EVERY_MS = 1000;

/**
 * GET /v1/streams: an SSE stream of snapshots of this process's live streams
 * (on the redis store: the streams this replica produces), once a second,
 * until the client goes away. With auth on, a principal sees its own streams
 * (all of them with `"streams": "all"`).
 */
export function liveStreamsEvents(context: HttpContext): HttpHandler {
  return (call) => {
    const watcher = context.live.watch(call.context.principal);
    startSse(call.response, {});
    const send = () => {
      if (!call.response.writableEnded) call.response.write(sseEvent(JSON.stringify(watcher.snapshot()), { event: 'snapshot' }));
    };
    send();
    const timer = setInterval(send, SNAPSHOT_EVERY_MS);
    const heartbeat = setInterval(() => call.response.write(SSE_HEARTBEAT), 15_000);
    call.response.on('close', () => {
      clearInterval(timer);
      clearInterval(heartbeat);
    });
  };
}

const STREAMS_STYLE = `${THEME_STYLE}${String.raw`
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 0.5rem; }
h2 { font-size: 1.05rem; margin: 1rem 0 0.25rem; }
label { font-weight: 600; margin-right: 0.5rem; }
input { font: inherit; padding: 0.35rem 0.5rem; border: 1px solid var(--border); border-radius: 6px; background: Canvas; color: CanvasText; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.chart p { margin: 0; color: var(--muted); font-size: 0.85rem; }
svg { width: 100%; height: 120px; border: 1px solid var(--border); border-radius: 6px; }
polyline { fill: none; stroke-width: 2; }
polyline.rate, polyline.p50 { stroke: var(--accent); }
polyline.p99 { stroke: #c62828; stroke-dasharray: 4 3; }
table { width: 100%; border-collapse: collapse; margin-top: 0.5rem; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--border); }
td.id { font: 0.8rem/1.4 ui-monospace, monospace; overflow-wrap: anywhere; }
button { font: inherit; font-weight: 600; padding: 0.3rem 0.9rem; border-radius: 6px; border: 2px solid var(--accent); background: transparent; color: var(--accent); cursor: pointer; }
button:disabled { opacity: 0.45; cursor: not-allowed; }
#status[data-state=error] { color: #c62828; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 48rem) { .charts { grid-template-columns: 1fr; } }
`}`;

const STREAMS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tokenrelay: live streams</title>
<link rel="icon" href="data:,">
<style>${STREAMS_STYLE}</style>
</head>
<body>
<main>
  <h1>Live streams</h1>
  <p><label for="token">Bearer token</label><input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="only for servers with auth"></p>
  <p id="status" role="status" data-state="ok">Connecting…</p>
  <div class="charts">
    <section class="chart" aria-labelledby="rate-heading"><h2 id="rate-heading">Tokens per second</h2><svg id="rate-chart" viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label="tokens per second, last two minutes"></svg><p id="rate-now">–</p></section>
    <section class="chart" aria-labelledby="ttft-heading"><h2 id="ttft-heading">Time to first token (p50, p99 dashed)</h2><svg id="ttft-chart" viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label="time to first token p50 and p99, last two minutes"></svg><p id="ttft-now">–</p></section>
  </div>
  <table>
    <caption class="visually-hidden">Streams this server is producing now</caption>
    <thead><tr><th scope="col">Stream</th><th scope="col">Model</th><th scope="col">Principal</th><th scope="col">Age</th><th scope="col">Tokens</th><th scope="col">Tokens/s</th><th scope="col">Readers</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Cancel</span></th></tr></thead>
    <tbody id="rows"></tbody>
  </table>
</main>
<script src="/streams.js"></script>
</body>
</html>
`;

/** The page's own script, a real file beside this one (copied next to the built code). */
const STREAMS_SCRIPT = readFileSync(path.join(__dirname, 'web', 'streams.js'), 'utf8');

/** Only the page's own script file and its one style may run. */
const STREAMS_CSP = pagePolicy("'self'", STREAMS_STYLE);

const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

/** GET /streams: the live streams page (the data comes from /v1/streams, behind auth when auth is on). */
export const serveStreamsPage: HttpHandler = (call) => {
  call.response
    .writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(STREAMS_HTML),
      'cache-control': 'no-cache',
      'content-security-policy': STREAMS_CSP,
      ...SECURITY_HEADERS,
    })
    .end(STREAMS_HTML);
};

/** GET /streams.js: the page's script. */
export const serveStreamsScript: HttpHandler = (call) => {
  call.response
    .writeHead(200, {
      'content-type': 'text/javascript; charset=utf-8',
      'content-length': Buffer.byteLength(STREAMS_SCRIPT),
      'cache-control': 'no-cache',
      ...SECURITY_HEADERS,
    })
    .end(STREAMS_SCRIPT);
};
