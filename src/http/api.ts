import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Span } from '@opentelemetry/api';
import { REQUEST_ID_KEY } from '../common/headers';
import type { TLSSocket } from 'node:tls';
import { type Principals, identify } from '../core/principals';
import { requestIdFrom } from '../core/requestId';
import { CallState, streamLogFields } from '../core/callContext';
import { StatusCode, StreamFailure } from '../core/streams/status';
import { cancelStream } from './cancelStream';
import { chatCompletions } from './chatCompletions';
import type { HttpCall, HttpContext, HttpHandler } from './context';
import { HttpError, fromFailure, sendError, toHttpError } from './errors';
import { liveStreamsEvents, serveStreamsPage, serveStreamsScript } from './liveStreams';
import { listModels } from './models';
import { servePage } from './page';
import { streamEvents } from './streamEvents';

export interface HttpApiOptions {
  context: HttpContext;
  /** Accepted bearer tokens for /v1/*; empty turns auth off. */
  /** Who may call; none configured turns auth off. */
  principals: Principals;
  /** Client certificates are verified on every connection (required mTLS), so their CN may name a principal. */
  certificates?: boolean;
  /** Whether the server is shutting down: new /v1 requests get 503. */
  isDraining: () => boolean;
}

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** A path, or a pattern whose groups are the call's params. */
  path: string | RegExp;
  handler: HttpHandler;
  /** Served without a token and while draining (the page). */
  open?: boolean;
  /** The path as a template (`/v1/streams/{id}/events`), for span names; default the literal path. */
  template?: string;
}

/** Handles a request the side port does not serve itself; returns false when no route has its path. */
export type HttpApi = (request: IncomingMessage, response: ServerResponse, url: URL) => boolean;

function matchPath(route: Route, pathname: string): string[] | undefined {
  if (typeof route.path === 'string') return route.path === pathname ? [] : undefined;
  const match = route.path.exec(pathname);
  return match ? match.slice(1).map((part) => decodeURIComponent(part)) : undefined;
}

/**
 * The HTTP edge: the page, and the OpenAI-compatible and stream endpoints
 * under /v1. The routes are one literal table; every /v1 request passes the
 * same checks in the same order as a gRPC call passes its interceptors:
 * request id, draining (503), bearer token (401), then the handler, whose
 * errors become OpenAI-shaped bodies with the status from status.ts.
 */
export function createHttpApi(options: HttpApiOptions): HttpApi {
  const { context } = options;
  const routes: Route[] = [
    { method: 'GET', path: '/', handler: servePage, open: true },
    { method: 'GET', path: '/streams', handler: serveStreamsPage, open: true },
    { method: 'GET', path: '/streams.js', handler: serveStreamsScript, open: true },
    { method: 'GET', path: '/v1/streams', handler: liveStreamsEvents(context) },
    { method: 'GET', path: '/v1/models', handler: listModels(context) },
    { method: 'POST', path: '/v1/chat/completions', handler: chatCompletions(context) },
    { method: 'GET', path: /^\/v1\/streams\/([^/]+)\/events$/, handler: streamEvents(context), template: '/v1/streams/{id}/events' },
    { method: 'DELETE', path: /^\/v1\/streams\/([^/]+)$/, handler: cancelStream(context), template: '/v1/streams/{id}' },
  ];
  const { principals } = options;

  return (request, response, url) => {
    const requestId = requestIdOf(request);
    response.setHeader(REQUEST_ID_KEY, requestId);
    const call: HttpCall = { request, response, url, params: [], context: new CallState(requestId) };
    const startedMs = performance.now();
    let span: Span | undefined;
    response.on('close', () => {
      // A response closed before it finished: the client went away (the page's stop button, a closed tab).
      const { stream } = call.context;
      if (stream && !stream.finish && !response.writableFinished) stream.cancelledBy = 'client';
      call.context.end();
      const status = response.statusCode;
      context.tracing.endCall(span, { 'http.response.status_code': status, 'tokenrelay.stream.id': call.streamId ?? '' }, status >= 500);
      context.logger.info(
        {
          requestId,
          method: request.method,
          path: url.pathname,
          status: response.statusCode,
          streamId: call.streamId,
          ...(call.context.stream ? streamLogFields(call.context.stream) : {}),
          principal: call.context.principal?.name,
          completed: response.writableFinished,
          durationMs: Math.round(performance.now() - startedMs),
        },
        'http request',
      );
    });
    try {
      const route = resolve(routes, request.method ?? 'GET', url.pathname, call);
      if (!route) return false;
      const template = route.template ?? (route.path as string);
      span = context.tracing.startCall(
        `${request.method} ${template}`,
        { 'http.request.method': route.method, 'http.route': template },
        (name) => {
          const value = request.headers[name];
          return typeof value === 'string' ? value : undefined;
        },
      );
      call.context.span = span;
      if (!route.open) {
        if (options.isDraining()) {
          throw fromFailure(new StreamFailure(StatusCode.UNAVAILABLE, 'the server is shutting down', { reason: 'SERVER_DRAINING' }));
        }
        if (principals.enabled) {
          const socket = request.socket as TLSSocket;
          // A certificate names a principal only where every client's is verified (required mTLS).
          const certificateName = options.certificates && socket.authorized ? socket.getPeerCertificate().subject?.CN : undefined;
          call.context.principal = identify(principals, request.headers.authorization, certificateName);
          if (!call.context.principal) {
            response.setHeader('www-authenticate', 'Bearer');
            throw new HttpError(401, 'missing or invalid bearer token', { code: 'invalid_api_key' });
          }
        }
      }
      const result = route.handler(call);
      if (result instanceof Promise) result.catch((error: unknown) => fail(context, call, error));
    } catch (error) {
      fail(context, call, error);
    }
    return true;
  };
}

/** The route for a method and path; 405 when the path is known but not the method; undefined when no route has the path. */
function resolve(routes: readonly Route[], method: string, pathname: string, call: HttpCall): Route | undefined {
  const allowed: string[] = [];
  for (const route of routes) {
    let params: string[] | undefined;
    try {
      params = matchPath(route, pathname);
    } catch {
      throw new HttpError(400, `path: ${JSON.stringify(pathname.slice(0, 200))} is not valid percent-encoding`, {
        code: 'invalid_argument',
      });
    }
    if (!params) continue;
    const head = method === 'HEAD' && route.method === 'GET';
    if (route.method === method || head) {
      call.params = params;
      return route;
    }
    allowed.push(route.method);
  }
  if (allowed.length > 0) {
    call.response.setHeader('allow', allowed.join(', '));
    throw new HttpError(405, `method ${method} is not allowed on ${pathname}; use ${allowed.join(' or ')}`, { code: 'method_not_allowed' });
  }
  if (pathname.startsWith('/v1/')) {
    throw new HttpError(404, `path: no endpoint ${pathname}`, { code: 'not_found' });
  }
  return undefined;
}

/** The request id from the headers as they came (any byte a client sends is fine: a bad id is replaced, never thrown). */
function requestIdOf(request: IncomingMessage): string {
  return requestIdFrom((name) => request.headers[name]);
}

/** Answers a handler's error: an OpenAI-shaped body, or, once an SSE response has begun, the end of the connection. */
function fail(context: HttpContext, call: HttpCall, error: unknown): void {
  const httpError = toHttpError(error, call.context.requestId);
  if (httpError.status === 500) context.logger.error({ err: error, requestId: call.context.requestId }, 'http handler failed');
  if (call.response.destroyed) return; // the client is gone: nobody to answer
  if (call.response.headersSent) {
    call.response.destroy();
    return;
  }
  sendError(call.response, httpError);
}
