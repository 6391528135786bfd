import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HttpApi } from '../http/api';
import type { Metrics } from './metrics';

export interface HttpSideOptions {
  host: string;
  port: number;
  metrics: Metrics;
  /** Whether the service accepts calls now (false while starting or draining). */
  isReady: () => boolean;
  /** The HTTP edge (the page, /v1/*); without it only the probes and metrics are served. */
  api?: HttpApi;
}

/** Probe and metrics paths: always open, never behind auth, answered even while draining. */
const SIDE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The HTTP side port: liveness at /healthz, readiness at /readyz (503 while
 * starting or draining), Prometheus metrics at /metrics, and the HTTP edge
 * (see src/http/api.ts) for every other path.
 */
export async function startHttpSide(options: HttpSideOptions): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!SIDE_PATHS.has(url.pathname)) {
      if (options.api?.(request, response, url)) return;
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    switch (url.pathname) {
      case '/healthz':
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const ready = options.isReady();
        response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
        return;
      }
      case '/metrics':
        options.metrics.registry.metrics().then(
          (text) => response.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(text),
          () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'),
        );
        return;
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function httpPort(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
