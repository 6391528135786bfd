/**
 * The page's script, dependency-free. It starts a generation with
 * POST /v1/chat/completions (stream: true, resumable: true, a stream_id it
 * picks, so a retried POST attaches instead of generating twice), shows each
 * event's tokens, and remembers the SSE id of the last event it showed: the
 * seq of the last token on screen. When the connection drops it resumes with
 * GET /v1/streams/{id}/events and Last-Event-ID = that seq, retrying with
 * full-jitter exponential backoff, so no token is repeated or lost. Stop
 * sends DELETE /v1/streams/{id}, which aborts the producer on the server.
 *
 * It uses sseParser from pageSse.ts, which page.ts puts before it. Kept as
 * a string with no backticks or dollar-brace, so it can sit in a String.raw
 * template; it is served inline with a CSP hash.
 */
export const PAGE_SCRIPT = String.raw`
(function () {
  'use strict';
  var BACKOFF_BASE_MS = 250;
  var BACKOFF_CAP_MS = 4000;
  var MAX_ATTEMPTS = 10;

  function byId(id) { return document.getElementById(id); }
  var form = byId('form');
  var promptBox = byId('prompt');
  var modelPicker = byId('model');
  var maxTokensBox = byId('max-tokens');
  var tokenBox = byId('token');
  var sendButton = byId('send');
  var stopButton = byId('stop');
  var output = byId('output');
  var statusLine = byId('status');
  var ttftView = byId('ttft');
  var rateView = byId('rate');
  var countView = byId('count');
  var streamView = byId('stream-id');

  /** The generation in flight, or null. */
  var run = null;

  function setStatus(text, state) {
    statusLine.textContent = text;
    if (state) statusLine.dataset.state = state;
  }

  function authHeaders(extra) {
    var headers = extra || {};
    var token = tokenBox.value.trim();
    if (token) headers.authorization = 'Bearer ' + token;
    return headers;
  }

  /** An error the page must not retry (a 4xx answer): shown as it is. */
  function Refusal(status, message) { this.status = status; this.message = message; }

  async function refusalOf(response) {
    var message = response.status + ' ' + response.statusText;
    try {
      var body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message + ' (' + response.status + ')';
    } catch (ignored) { /* not JSON */ }
    return new Refusal(response.status, message);
  }

  /** Whether an HTTP status is worth another try: overload, shutdown, a gateway in trouble. */
  function retryable(status) { return status === 429 || status >= 500; }

  async function loadModels() {
    try {
      var response = await fetch('v1/models', { headers: authHeaders(), cache: 'no-store' });
      if (!response.ok) throw await refusalOf(response);
      var body = await response.json();
      var chosen = modelPicker.value || body.default_model;
      modelPicker.replaceChildren();
      body.data.forEach(function (model) {
        var option = document.createElement('option');
        option.value = model.id;
        option.textContent = model.id + (model.id === body.default_model ? ' (default)' : '');
        modelPicker.append(option);
      });
      modelPicker.value = chosen;
      if (!run) setStatus('Ready.', 'ready');
    } catch (error) {
      setStatus('Could not load the models: ' + error.message, 'error');
    }
  }

  function newStreamId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return 'page-' + Array.from(bytes, function (byte) { return byte.toString(16).padStart(2, '0'); }).join('');
  }

  function showTokens(r, text, lastSeq) {
    var now = performance.now();
    if (r.firstAt === null) {
      r.firstAt = now;
      ttftView.textContent = Math.round(now - r.startedAt) + ' ms';
    }
    output.append(document.createTextNode(text));
    r.lastSeq = lastSeq;
    r.lastAt = now;
    updateStats(r);
  }

  function updateStats(r) {
    var tokens = r.lastSeq + 1;
    countView.textContent = String(tokens);
    if (r.firstAt === null) return;
    var end = r.finished ? r.lastAt : performance.now();
    var seconds = (end - r.firstAt) / 1000;
    rateView.textContent = seconds > 0 && tokens > 1 ? ((tokens - 1) / seconds).toFixed(1) : '–';
  }

  /** An event of the chat-completions stream: tokens with id = seq of the last one, errors, [DONE]. */
  function onChatEvent(r, event) {
    if (event.data === '[DONE]') { r.done = true; return; }
    var body = JSON.parse(event.data);
    if (body.error) { r.failure = body.error.message; r.done = true; return; }
    var choice = body.choices && body.choices[0];
    if (choice && event.id !== null) {
      var lastSeq = Number(event.id);
      if (lastSeq > r.lastSeq) showTokens(r, choice.delta.content || '', lastSeq);
    }
    if (choice && choice.finish_reason) r.finishReason = choice.finish_reason;
    if (body.usage) r.usage = body.usage;
  }

  /** An event of /v1/streams/{id}/events: {seq, tokens}, then end or error. */
  function onStreamEvent(r, event) {
    var body = JSON.parse(event.data);
    if (event.event === 'end') { r.finishReason = body.finish_reason; r.usage = body.usage; r.done = true; return; }
    if (event.event === 'error') { r.failure = body.message; r.done = true; return; }
    var skip = Math.max(0, r.lastSeq + 1 - body.seq);
    if (skip < body.tokens.length) showTokens(r, body.tokens.slice(skip).join(''), body.seq + body.tokens.length - 1);
  }

  /** Reads one response's SSE body until it ends, fails, or the run is over. */
  async function readEvents(r, response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var feed = sseParser(function (event) { if (!r.stopped && !r.done) onEvent(r, event); });
    for (;;) {
      var part = await reader.read();
      if (part.done) return;
      feed(decoder.decode(part.value, { stream: true }));
      if (r.done || r.stopped) { reader.cancel().catch(function () {}); return; }
    }
  }

  /** One connection: the first POST, or a resume of the stream from the token after the last one shown. */
  async function connect(r) {
    r.controller = new AbortController();
    var response;
    var onEvent = r.accepted ? onStreamEvent : onChatEvent;
    if (!r.accepted) {
      response = await fetch('v1/chat/completions', {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json' }),
        body: JSON.stringify(r.body),
        signal: r.controller.signal,
      });
    } else {
      var headers = r.lastSeq >= 0 ? { 'last-event-id': String(r.lastSeq) } : {};
      var query = r.lastSeq >= 0 ? '' : '?from_seq=0';
      response = await fetch('v1/streams/' + encodeURIComponent(r.streamId) + '/events' + query, {
        headers: authHeaders(headers),
        cache: 'no-store',
        signal: r.controller.signal,
      });
    }
    if (!response.ok) {
      var refusal = await refusalOf(response);
      if (!retryable(response.status)) throw refusal;
      return;
    }
    r.accepted = true;
    await readEvents(r, response, onEvent);
  }

  function sleep(r, ms) {
    return new Promise(function (resolve) {
      r.wake = resolve;
      r.timer = setTimeout(resolve, ms);
    });
  }

  async function follow(r) {
    var attempt = 0;
    while (!r.done && !r.stopped) {
      var seenBefore = r.lastSeq;
      try {
        await connect(r);
      } catch (error) {
        if (r.stopped) return;
        if (error instanceof Refusal) { r.failure = error.message; break; }
        /* a network error: the connection dropped; resume below */
      }
      if (r.done || r.stopped) break;
      attempt = r.lastSeq > seenBefore ? 1 : attempt + 1;
      if (attempt > MAX_ATTEMPTS) { r.failure = 'the connection kept failing; gave up after ' + MAX_ATTEMPTS + ' tries'; break; }
      var delay = Math.round(Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * Math.pow(2, attempt)));
      setStatus('Connection lost; resuming after token ' + r.lastSeq + ' (try ' + attempt + ')…', 'resuming');
      await sleep(r, delay);
      r.resumes++;
      statusLine.dataset.resumes = String(r.resumes);
    }
    if (!r.stopped) finish(r);
  }

  function finish(r) {
    r.finished = true;
    clearInterval(r.ticker);
    updateStats(r);
    run = null;
    sendButton.disabled = false;
    stopButton.disabled = true;
    output.setAttribute('aria-busy', 'false');
    var tokens = r.lastSeq + 1;
    if (r.stopped) setStatus('Stopped after ' + tokens + ' tokens.', 'stopped');
    else if (r.failure) setStatus('Failed after ' + tokens + ' tokens: ' + r.failure, 'error');
    else {
      var resumed = r.resumes === 0 ? '' : '; resumed ' + (r.resumes === 1 ? 'once' : r.resumes + ' times') + ' after a dropped connection';
      setStatus('Done: ' + tokens + ' tokens, finish reason ' + r.finishReason + resumed + '.', 'done');
    }
  }

  function start() {
    if (run) return;
    var prompt = promptBox.value;
    if (prompt.trim() === '') { setStatus('Type a prompt first.', 'ready'); promptBox.focus(); return; }
    var maxTokens = Number(maxTokensBox.value);
    var r = {
      streamId: newStreamId(), lastSeq: -1, startedAt: performance.now(), firstAt: null, lastAt: null,
      accepted: false, resumes: 0, done: false, stopped: false, finished: false,
      failure: null, finishReason: null, usage: null, controller: null, timer: null, wake: null, ticker: null,
    };
    r.body = {
      model: modelPicker.value || undefined,
      messages: [{ role: 'user', content: prompt }],
      max_tokens: maxTokens > 0 ? maxTokens : undefined,
      stream: true,
      stream_options: { include_usage: true },
      stream_id: r.streamId,
      resumable: true,
    };
    run = r;
    output.replaceChildren();
    output.setAttribute('aria-busy', 'true');
    ttftView.textContent = '–'; rateView.textContent = '–'; countView.textContent = '0';
    streamView.textContent = r.streamId;
    statusLine.dataset.resumes = '0';
    sendButton.disabled = true;
    stopButton.disabled = false;
    setStatus('Generating…', 'running');
    r.ticker = setInterval(function () { updateStats(r); }, 250);
    follow(r);
  }

  async function stop() {
    var r = run;
    if (!r || r.stopped) return;
    r.stopped = true;
    setStatus('Stopping…', 'stopping');
    clearTimeout(r.timer);
    if (r.wake) r.wake();
    try {
      var response = await fetch('v1/streams/' + encodeURIComponent(r.streamId), { method: 'DELETE', headers: authHeaders() });
      if (!response.ok && response.status !== 404) r.failure = (await refusalOf(response)).message;
    } catch (error) {
      r.failure = error.message;
    }
    if (r.controller) r.controller.abort();
    finish(r);
  }

  form.addEventListener('submit', function (event) { event.preventDefault(); start(); });
  stopButton.addEventListener('click', stop);
  promptBox.addEventListener('keydown', function (event) {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); start(); }
  });
  document.addEventListener('keydown', function (event) {
    if (event.key === 'Escape' && run) { event.preventDefault(); stop(); }
  });
  tokenBox.addEventListener('change', loadModels);
  loadModels();
})();
`;
