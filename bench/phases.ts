/**
 * A preload for a server under test: when, after an HTTP/2 request's
 * `stream` event, the server responds (its headers), first writes (its first
 * message), ends, and is asked for trailers (nghttp2 is sending the last
 * frame). It writes the medians in µs to stderr, that is the server's log,
 * when the process exits. Works on any node:http2 server, so on tokenrelay and
 * on the grpc-js baselines alike:
 *
 *   BENCH_NODE_FLAGS="-r $PWD/dist/bench/bench/phases.js" node dist/bench/bench/compare.js /tmp/before --reps 1
 *   grep phases bench/out/compare-<stamp>/this.log bench/out/compare-<stamp>/other.log
 *
 * A server's writes of one turn leave together, after the turn: what runs
 * before its first write (and in that write's turn) is what its time to first
 * token pays. A measurement aid: it patches node:http2's stream methods, so
 * figures taken with it are not comparable with a plain run.
 */
import http2 from 'node:http2';
import { writeSync } from 'node:fs';
import { percentiles } from './lib/stats';

type Phase = 'respond' | 'firstWrite' | 'end' | 'wantTrailers';
const samples: Record<Phase, number[]> = { respond: [], firstWrite: [], end: [], wantTrailers: [] };
const started = new WeakMap<http2.ServerHttp2Stream, { at: number; wrote: boolean }>();

function note(stream: http2.ServerHttp2Stream, phase: Phase): void {
  const start = started.get(stream);
  if (!start) return;
  if (phase === 'firstWrite') {
    if (start.wrote) return;
    start.wrote = true;
  }
  samples[phase].push(performance.now() - start.at);
}

let patched = false;
function patch(stream: http2.ServerHttp2Stream): void {
  started.set(stream, { at: performance.now(), wrote: false });
  stream.once('wantTrailers', () => note(stream, 'wantTrailers'));
  if (patched) return;
  patched = true;
  const proto = Object.getPrototypeOf(stream) as http2.ServerHttp2Stream;
  const { respond, write, end } = proto;
  proto.respond = function (this: http2.ServerHttp2Stream, ...args: Parameters<typeof respond>) {
    note(this, 'respond');
    return respond.apply(this, args);
  };
  proto.write = function (this: http2.ServerHttp2Stream, ...args: unknown[]) {
    note(this, 'firstWrite');
    return (write as (...all: unknown[]) => boolean).apply(this, args);
  } as typeof write;
  proto.end = function (this: http2.ServerHttp2Stream, ...args: unknown[]) {
    note(this, 'end');
    return (end as (...all: unknown[]) => http2.ServerHttp2Stream).apply(this, args);
  } as typeof end;
}

for (const name of ['createServer', 'createSecureServer'] as const) {
  const create = http2[name] as (...args: unknown[]) => http2.Http2Server;
  (http2 as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
    const server = create(...args);
    server.prependListener('stream', patch);
    return server;
  };
}

function median(values: number[]): string {
  return values.length === 0 ? '-' : (percentiles(values, [0.5])[0] * 1000).toFixed(0);
}

process.once('exit', () => {
  if (samples.respond.length === 0) return; // not an HTTP/2 server
  const figures = (Object.keys(samples) as Phase[]).map((phase) => `${phase} ${median(samples[phase])}`).join(', ');
  writeSync(2, `phases after the stream event, median µs over ${samples.respond.length} streams: ${figures}\n`);
});
