import { createHash } from 'node:crypto';
import type { HttpHandler } from './context';
import { PAGE_SCRIPT } from './pageScript';
import { PAGE_SSE_PARSER } from './pageSse';

/** The pages' shared look: light and dark colours, box sizing, the font. */
export const THEME_STYLE = String.raw`
:root { color-scheme: light dark; --accent: #1f5fbf; --muted: #5b6470; --border: #9aa3ad; }
@media (prefers-color-scheme: dark) { :root { --accent: #7fb0ff; --muted: #a9b1bb; --border: #5b6470; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
`;

const PAGE_STYLE = `${THEME_STYLE}${String.raw`
main { max-width: 46rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.25rem 0 0.5rem; }
label { display: block; font-weight: 600; margin: 0.75rem 0 0.25rem; }
textarea, select, input { width: 100%; font: inherit; padding: 0.5rem; border: 1px solid var(--border); border-radius: 6px; background: Canvas; color: CanvasText; }
textarea { resize: vertical; min-height: 5rem; }
.row { display: grid; grid-template-columns: 2fr 1fr; gap: 0 0.75rem; }
.hint { color: var(--muted); font-size: 0.875rem; margin: 0.25rem 0 0; }
.buttons { display: flex; gap: 0.75rem; margin-top: 1rem; }
button { font: inherit; font-weight: 600; padding: 0.6rem 1.4rem; min-height: 44px; border-radius: 6px; border: 2px solid var(--accent); cursor: pointer; }
button[type=submit] { background: var(--accent); color: Canvas; }
button[type=button] { background: transparent; color: var(--accent); }
button:disabled { opacity: 0.45; cursor: not-allowed; }
#output { white-space: pre-wrap; overflow-wrap: anywhere; min-height: 8rem; padding: 0.75rem; border: 1px solid var(--border); border-radius: 6px; }
.stats { display: grid; grid-template-columns: repeat(4, 1fr); gap: 0.5rem; margin: 0.75rem 0; }
.stats div { border: 1px solid var(--border); border-radius: 6px; padding: 0.4rem 0.6rem; min-width: 0; }
.stats dt { color: var(--muted); font-size: 0.8rem; }
.stats dd { margin: 0; font-variant-numeric: tabular-nums; font-weight: 600; overflow-wrap: anywhere; }
#stream-id { font: 0.75rem/1.4 ui-monospace, monospace; font-weight: 400; }
#status { margin: 0.5rem 0; }
#status[data-state=error] { color: #c62828; }
@media (max-width: 34rem) { .row, .stats { grid-template-columns: 1fr 1fr; } .row > div:first-child { grid-column: 1 / -1; } }
`}`;

const PAGE_BODY = String.raw`
<main>
  <h1>tokenrelay</h1>
  <form id="form">
    <label for="prompt">Prompt</label>
    <textarea id="prompt" rows="4" required aria-describedby="prompt-hint"></textarea>
    <p id="prompt-hint" class="hint">Ctrl+Enter generates; Escape stops.</p>
    <div class="row">
      <div><label for="model">Model</label><select id="model"></select></div>
      <div><label for="max-tokens">Max tokens</label><input id="max-tokens" type="number" min="1" value="256" inputmode="numeric"></div>
    </div>
    <label for="token">Bearer token <span class="hint">(only for servers with auth)</span></label>
    <input id="token" type="password" autocomplete="off" spellcheck="false">
    <div class="buttons">
      <button type="submit" id="send">Generate</button>
      <button type="button" id="stop" disabled>Stop</button>
    </div>
  </form>
  <section aria-labelledby="output-heading">
    <h2 id="output-heading">Output</h2>
    <div id="output" role="log" aria-live="polite" aria-busy="false" tabindex="0"></div>
    <dl class="stats">
      <div><dt>Time to first token</dt><dd id="ttft">–</dd></div>
      <div><dt>Tokens/s</dt><dd id="rate">–</dd></div>
      <div><dt>Tokens</dt><dd id="count">0</dd></div>
      <div><dt>Stream</dt><dd id="stream-id">–</dd></div>
    </dl>
    <p id="status" role="status" data-state="ready">Loading models…</p>
  </section>
</main>
`;

/** The one inline script: the SSE parser, then the page's logic, which uses it. */
const SCRIPT = PAGE_SSE_PARSER + PAGE_SCRIPT;

function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/** The page at `/`: one self-contained HTML document, no external resources. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tokenrelay</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body>${PAGE_BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

/**
 * A page's CSP: only the given scripts and its one inline style may run, it
 * may talk only to this server, and nothing may frame it or post a form.
 */
export function pagePolicy(scriptSource: string, style: string): string {
  return [
    "default-src 'none'",
    `script-src ${scriptSource}`,
    `style-src ${cspHash(style)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Only the inline script and style above may run. */
const CONTENT_SECURITY_POLICY = pagePolicy(cspHash(SCRIPT), PAGE_STYLE);

export const servePage: HttpHandler = (call) => {
  call.response
    .writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(PAGE_HTML),
      'cache-control': 'no-cache',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    })
    .end(PAGE_HTML);
};
