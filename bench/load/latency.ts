/**
 * Scenario (d): many paced streams through Publish → Subscribe, each side on
 * one connection of the bare gRPC client (rawGrpc.ts). Each token's text is
 * the producer's CLOCK_MONOTONIC time in µs when it wrote it; the consumer
 * (another process on the same machine, so the same clock) subtracts that
 * from the time the token arrived.
 */
import http2 from 'node:http2';
import type { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { nowNs, percentiles, sleep } from '../lib/stats';
import { RawConnection, type RawPublish } from './rawGrpc';

interface StreamsParams {
  address: string;
  streams: number;
  prefix: string;
}

const producer = {
  connection: undefined as RawConnection | undefined,
  calls: [] as RawPublish[],
  seqs: [] as number[],
  sent: 0,
  /** The stamp of every token sent, in send order (so ascending), in µs. */
  stamps: new Float64Array(1 << 16),
  stopped: true,
};

function recordStamp(stampUs: number): void {
  if (producer.sent === producer.stamps.length) {
    const grown = new Float64Array(producer.stamps.length * 2);
    grown.set(producer.stamps);
    producer.stamps = grown;
  }
  producer.stamps[producer.sent++] = stampUs;
}

/** How many of the first `count` (ascending) stamps are below `value`. */
function countBelow(stamps: Float64Array, count: number, value: number): number {
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (stamps[middle] < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

async function open(params: StreamsParams): Promise<void> {
  producer.connection = new RawConnection(params.address);
  const connection = producer.connection;
  producer.calls = await Promise.all(Array.from({ length: params.streams }, (_, index) => connection.publish(`${params.prefix}-${index}`)));
  producer.seqs = producer.calls.map(() => 0);
}

/** Sends every stream a token every 1/tokensPerSecond s, the streams' phases spread evenly over that period. */
async function pace(params: { tokensPerSecond: number }): Promise<void> {
  const streams = producer.calls.length;
  const periodMs = 1000 / params.tokensPerSecond;
  const startMs = performance.now();
  let cycle = 0;
  let next = 0;
  producer.stopped = false;
  producer.sent = 0;
  const tick = () => {
    if (producer.stopped) return;
    const now = performance.now();
    while (startMs + cycle * periodMs + (next * periodMs) / streams <= now) {
      const stamp = (nowNs() / 1000).toFixed(1);
      producer.calls[next].write(producer.seqs[next]++, [stamp]);
      recordStamp(Number(stamp));
      if (++next === streams) {
        next = 0;
        cycle++;
      }
    }
    setTimeout(tick, 1);
  };
  tick();
}

/** Stops pacing and half-closes every stream; returns how many tokens were written within [fromNs, toNs]. */
async function stop(params: { fromNs: number; toNs: number }): Promise<{ sent: number; sentInWindow: number }> {
  producer.stopped = true;
  for (const call of producer.calls) call.end();
  const sentInWindow =
    countBelow(producer.stamps, producer.sent, params.toNs / 1000 + 0.05) -
    countBelow(producer.stamps, producer.sent, params.fromNs / 1000);
  const connection = producer.connection;
  setTimeout(() => connection?.close(), 2000).unref();
  return { sent: producer.sent, sentInWindow };
}

/** One repetition's subscriptions; a new one per subscribe(), so late events of the last one cannot touch it. */
class Consumer {
  readonly connection: RawConnection;
  readonly calls: http2.ClientHttp2Stream[];
  readonly received: number[];
  readonly sentUs: number[] = [];
  readonly latencyUs: number[] = [];
  errors = 0;
  closed = false;

  constructor(params: StreamsParams) {
    this.connection = new RawConnection(params.address);
    this.received = new Array<number>(params.streams).fill(0);
    this.calls = Array.from({ length: params.streams }, (_, index) =>
      this.connection.subscribe(
        { streamId: `${params.prefix}-${index}`, fromSeq: 0 },
        (chunk: TokenChunk) => this.onChunk(index, chunk),
        (status) => {
          if (status !== 0 && !this.closed) this.errors++;
        },
      ),
    );
  }

  private onChunk(index: number, chunk: TokenChunk): void {
    const arrivedUs = nowNs() / 1000;
    if (chunk.seq !== this.received[index]) this.errors++;
    this.received[index] += chunk.tokens.length;
    for (const token of chunk.tokens) {
      const sent = Number(token);
      this.sentUs.push(sent);
      this.latencyUs.push(arrivedUs - sent);
    }
  }

  close(): void {
    this.closed = true;
    for (const call of this.calls) call.close(http2.constants.NGHTTP2_CANCEL);
    setTimeout(() => this.connection.close(), 1000).unref();
  }
}

let consumer = { received: [] as number[] } as Consumer;

async function subscribe(params: StreamsParams): Promise<void> {
  consumer = new Consumer(params);
}

/** Resolves once every stream delivered a token (every subscription is attached). */
async function ready(params: { timeoutMs: number }): Promise<void> {
  const deadline = Date.now() + params.timeoutMs;
  while (consumer.received.some((count) => count === 0)) {
    if (Date.now() > deadline) {
      throw new Error(`${consumer.received.filter((count) => count === 0).length} streams delivered nothing`);
    }
    await sleep(20);
  }
}

export interface LatencyReport {
  /** Tokens written within the window that arrived. */
  tokens: number;
  /** Tokens written within the window that had not arrived when the report was asked for: counted as infinitely late. */
  undelivered: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  errors: number;
}

/**
 * Latency of the `expected` tokens written within [fromNs, toNs], waiting up
 * to waitMs for the last of them; those still missing count as infinitely
 * late. Closes the subscriptions.
 */
async function report(params: { fromNs: number; toNs: number; expected: number; waitMs: number }): Promise<LatencyReport> {
  const from = params.fromNs / 1000;
  const to = params.toNs / 1000 + 0.05;
  const window: number[] = [];
  let scanned = 0;
  const deadline = Date.now() + params.waitMs;
  for (;;) {
    for (; scanned < consumer.sentUs.length; scanned++) {
      const sent = consumer.sentUs[scanned];
      if (sent >= from && sent < to) window.push(consumer.latencyUs[scanned]);
    }
    if (window.length >= params.expected || Date.now() > deadline) break;
    await sleep(50);
  }
  const undelivered = Math.max(0, params.expected - window.length);
  for (let index = 0; index < undelivered; index++) window.push(Infinity);
  const errors = consumer.errors;
  consumer.close();
  const [p50Us, p90Us, p99Us, maxUs] = percentiles(window, [0.5, 0.9, 0.99, 1]);
  return { tokens: window.length - undelivered, undelivered, p50Us, p90Us, p99Us, maxUs, errors };
}

export const latencyCommands = {
  'latency.open': open,
  'latency.pace': pace,
  'latency.stop': stop,
  'latency.subscribe': subscribe,
  'latency.ready': ready,
  'latency.report': report,
  /** Tokens sent and received so far (for watching a run). */
  'latency.progress': async () => ({ sent: producer.sent, received: consumer.received.reduce((sum, count) => sum + count, 0) }),
};
