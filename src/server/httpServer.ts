import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { HttpApi } from '../http/api';
import { REQUEST_ID_KEY } from '../common/headers';
import { internalErrorMessage } from '../core/streams/status';
import type { Metrics } from './metrics';
import type { TlsCertificates } from './tls';

export interface HttpSideOptions {
  host: string;
  port: number;
  metrics: Metrics;
  logger: Logger;
  /** Serve HTTPS with these certificates (following their reloads); absent, plain HTTP. */
  tls?: TlsCertificates;
  /** When set, /metrics needs `Authorization: Bearer <token>` this accepts (401 otherwise). */
  metricsAuth?: (header: unknown) => boolean;
  /** Whether the service accepts calls now (false while starting or draining). */
  isReady: () => boolean;
  /** The HTTP edge (the page, /v1/*); without it only the probes and metrics are served. */
  api?: HttpApi;
}

/** Probe and metrics paths: answered even while draining; open, except /metrics with auth.protectMetrics. */
const SIDE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
/** The API and page paths with no parameter, each its own `route` label. */
const ROUTES = new Set(['/', '/streams', '/streams.js', '/v1/streams', '/v1/models', '/v1/chat/completions']);

function plain(response: http.ServerResponse, status: number, text: string, headers: http.OutgoingHttpHeaders = {}): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(`${text}\n`);
}

/**
 * The HTTP side port: liveness at /healthz, readiness at /readyz (503 while
 * starting or draining), Prometheus metrics at /metrics, and the HTTP edge
 * (see src/http/api.ts) for every other path.
 *
 * Every request runs inside one guard: an exception thrown anywhere on its
 * synchronous path (ours or a library's) is answered with a 500 for that
 * request alone and logged with its stack; the process and every other
 * request go on. (The edge's asynchronous handlers catch their own, in
 * api.ts.)
 */
export async function startHttpSide(options: HttpSideOptions): Promise<http.Server> {
  const listener: http.RequestListener = (request, response) => {
    try {
      handle(options, request, response);
    } catch (error) {
      answerInternalError(options.logger, request, response, error);
    }
  };
  const { tls } = options;
  let server: http.Server;
  if (tls) {
    const secure = https.createServer(tls.httpsOptions(), listener);
    // Connections already open keep their context; new ones get the reloaded one.
    tls.onChange(() => secure.setSecureContext(tls.httpsOptions()));
    server = secure;
  } else {
    server = http.createServer(listener);
  }
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

/**
 * The `route` label of an HTTP request: one of the paths served (a stream's id
 * as `{id}`), else "other", so no client can make new series.
 */
export function routeLabel(pathname: string): string {
  if (SIDE_PATHS.has(pathname) || ROUTES.has(pathname)) return pathname;
  if (/^\/v1\/streams\/[^/]+\/events$/.test(pathname)) return '/v1/streams/{id}/events';
  if (/^\/v1\/streams\/[^/]+$/.test(pathname)) return '/v1/streams/{id}';
  return 'other';
}

/** Counts the request by route and status, and times it, when its response ends (however it ends). */
function countRequest(options: HttpSideOptions, request: http.IncomingMessage, response: http.ServerResponse): void {
  const startedMs = performance.now();
  response.once('close', () => {
    let pathname = '';
    try {
      pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    } catch {
      pathname = '';
    }
    const route = routeLabel(pathname);
    options.metrics.httpRequests.inc({ route, status: String(response.statusCode) });
    options.metrics.httpRequestSeconds.observe({ route }, (performance.now() - startedMs) / 1000);
  });
}

function handle(options: HttpSideOptions, request: http.IncomingMessage, response: http.ServerResponse): void {
  countRequest(options, request, response);
  let url: URL;
  try {
    url = new URL(request.url ?? '/', 'http://localhost');
  } catch {
    // A request target no URL parser takes (`//[`): the client's mistake, not ours.
    plain(response, 400, 'bad request: the request target is not a valid URL path');
    return;
  }
  if (!SIDE_PATHS.has(url.pathname)) {
    if (options.api?.(request, response, url)) return;
    plain(response, 404, 'not found');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    plain(response, 405, 'method not allowed', { allow: 'GET, HEAD' });
    return;
  }
  switch (url.pathname) {
    case '/healthz':
      plain(response, 200, 'ok');
      return;
    case '/readyz': {
      const ready = options.isReady();
      plain(response, ready ? 200 : 503, ready ? 'ready' : 'not ready');
      return;
    }
    case '/metrics':
      if (options.metricsAuth && !options.metricsAuth(request.headers.authorization)) {
        plain(response, 401, 'missing or invalid bearer token', { 'www-authenticate': 'Bearer' });
        return;
      }
      options.metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(text),
        (error: unknown) => answerInternalError(options.logger, request, response, error),
      );
      return;
  }
}

/** A 500 for one request whose handling threw: logged with its stack; the client learns only the request id. */
function answerInternalError(logger: Logger, request: http.IncomingMessage, response: http.ServerResponse, error: unknown): void {
  const assigned = response.getHeader(REQUEST_ID_KEY);
  const requestId = typeof assigned === 'string' ? assigned : randomUUID();
  logger.error(
    { err: error, requestId, method: request.method, path: request.url?.slice(0, 200) },
    'http request failed inside the server',
  );
  if (response.headersSent) {
    response.destroy();
    return;
  }
  plain(response, 500, internalErrorMessage(requestId), { [REQUEST_ID_KEY]: requestId });
}

export function httpPort(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
