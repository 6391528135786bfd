/**
 * Baseline: a plain Node HTTP/1.1 server-sent-events endpoint, one `data:`
 * event per token (the shape of an OpenAI-style streaming endpoint), fed by
 * the same token source as tokenrelay's sim model. GET
 * /generate?max_tokens=N&seed=S. Honours write()'s backpressure. Started by
 * the harness with an IPC channel: it reports {type:'ready', port} and
 * answers memory probes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SimText } from '../../src/core/models/sim';
import { installProbe } from '../lib/probe';

async function generate(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const maxTokens = Number(url.searchParams.get('max_tokens') ?? 256);
  const seed = Number(url.searchParams.get('seed') ?? 0);
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let gone = false;
  response.on('close', () => (gone = true));
  let seq = 0;
  const text = new SimText(seed, 1, 1);
  for (;;) {
    if (gone) return;
    const ready = response.write(`data: ${JSON.stringify({ seq, token: text.next() })}\n\n`);
    if (++seq === maxTokens) break;
    if (!ready) await new Promise((resolve) => response.once('drain', resolve));
  }
  response.end('data: [DONE]\n\n');
}

function main(): void {
  installProbe();
  const server = http.createServer((request, response) => {
    if (request.url?.startsWith('/generate')) void generate(request, response);
    else response.writeHead(404).end();
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port }));
  process.once('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

main();
