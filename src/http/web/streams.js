// The live streams page's script: plain browser JavaScript served as is
// (script-src 'self'), no build step; Biome lints it like the rest of src.
// It follows GET /v1/streams, an SSE stream of snapshots once a second, with
// the bearer token when one is given, renders the table and the two charts,
// and cancels a stream with DELETE /v1/streams/{id}.
(() => {
  const HISTORY = 120; // points kept per chart: two minutes at one snapshot a second
  const tokenInput = document.getElementById('token');
  const statusLine = document.getElementById('status');
  const rows = document.getElementById('rows');
  const rateChart = document.getElementById('rate-chart');
  const ttftChart = document.getElementById('ttft-chart');
  const rateNow = document.getElementById('rate-now');
  const ttftNow = document.getElementById('ttft-now');
  const rates = [];
  const p50s = [];
  const p99s = [];
  let following;

  tokenInput.value = sessionStorage.getItem('tokenrelay-token') ?? '';
  tokenInput.addEventListener('change', () => {
    sessionStorage.setItem('tokenrelay-token', tokenInput.value);
    follow();
  });

  function headers() {
    return tokenInput.value ? { authorization: `Bearer ${tokenInput.value}` } : {};
  }

  function say(text, state) {
    statusLine.textContent = text;
    statusLine.dataset.state = state;
  }

  function cell(text) {
    const td = document.createElement('td');
    td.textContent = text;
    return td;
  }

  function seconds(ms) {
    return `${(ms / 1000).toFixed(1)} s`;
  }

  function renderTable(streams) {
    const body = [];
    for (const stream of streams) {
      const tr = document.createElement('tr');
      tr.dataset.streamId = stream.id;
      const id = cell(stream.id);
      id.className = 'id';
      tr.append(
        id,
        cell(stream.model),
        cell(stream.principal ?? '–'),
        cell(seconds(stream.ageMs)),
        cell(String(stream.tokens)),
        cell(String(stream.tokensPerSecond)),
        cell(String(stream.readers)),
        cell(stream.state),
      );
      const action = document.createElement('td');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Cancel';
      button.setAttribute('aria-label', `Cancel stream ${stream.id}`);
      button.addEventListener('click', () => cancel(stream.id, button));
      action.append(button);
      tr.append(action);
      body.push(tr);
    }
    if (body.length === 0) {
      const tr = document.createElement('tr');
      const td = cell('No live streams.');
      td.colSpan = 9;
      tr.append(td);
      body.push(tr);
    }
    rows.replaceChildren(...body);
  }

  function line(svg, series, className, top) {
    const width = 600;
    const height = 120;
    const points = series
      .map((value, index) => (value === null ? undefined : `${(index / (HISTORY - 1)) * width},${height - (value / top) * (height - 8)}`))
      .filter((point) => point !== undefined);
    const polyline = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    polyline.setAttribute('points', points.join(' '));
    polyline.setAttribute('class', className);
    svg.append(polyline);
  }

  function renderCharts(snapshot) {
    for (const [series, value] of [
      [rates, snapshot.tokensPerSecond],
      [p50s, snapshot.ttftMs.p50],
      [p99s, snapshot.ttftMs.p99],
    ]) {
      series.push(value);
      if (series.length > HISTORY) series.shift();
    }
    rateChart.replaceChildren();
    line(rateChart, rates, 'rate', Math.max(1, ...rates));
    ttftChart.replaceChildren();
    line(ttftChart, p50s, 'p50', Math.max(1, ...p99s.filter((value) => value !== null)));
    line(ttftChart, p99s, 'p99', Math.max(1, ...p99s.filter((value) => value !== null)));
    rateNow.textContent = `${Math.round(snapshot.tokensPerSecond)} tokens/s`;
    const { p50, p99, count } = snapshot.ttftMs;
    ttftNow.textContent = count === 0 ? 'no streams yet' : `p50 ${p50} ms, p99 ${p99} ms (${count} streams, last 5 min)`;
  }

  async function cancel(id, button) {
    button.disabled = true;
    const response = await fetch(`/v1/streams/${encodeURIComponent(id)}`, { method: 'DELETE', headers: headers() });
    if (!response.ok) {
      button.disabled = false;
      say(`Cancel of ${id} failed: ${response.status}`, 'error');
    }
  }

  /** Reads the SSE snapshots of GET /v1/streams until the response ends, then follows again. */
  async function follow() {
    following?.abort();
    const controller = new AbortController();
    following = controller;
    try {
      const response = await fetch('/v1/streams', { headers: headers(), signal: controller.signal });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        say(`${response.status}: ${body.error?.message ?? response.statusText}`, 'error');
        return;
      }
      say('Live', 'ok');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        let end = buffered.indexOf('\n\n');
        while (end >= 0) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = event
            .split('\n')
            .filter((field) => field.startsWith('data:'))
            .map((field) => field.slice(5).trimStart())
            .join('\n');
          if (data) {
            const snapshot = JSON.parse(data);
            renderTable(snapshot.streams);
            renderCharts(snapshot);
          }
          end = buffered.indexOf('\n\n');
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      say(`Disconnected (${error.message}); retrying`, 'error');
    }
    if (!controller.signal.aborted) setTimeout(follow, 1000);
  }

  follow();
})();
