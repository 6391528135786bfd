import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics';

export interface HttpSideOptions {
  host: string;
  port: number;
  metrics: Metrics;
  /** Whether the service accepts calls now (false while starting or draining). */
  isReady: () => boolean;
}

/**
 * The HTTP side port: liveness at /healthz, readiness at /readyz (503 while
 * starting or draining), Prometheus metrics at /metrics.
 */
export async function startHttpSide(options: HttpSideOptions): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
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
      default:
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
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
