import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../lib/paths';
import { formatNumber } from '../lib/report';
import type { ServerChild } from '../lib/servers';
import { summarize } from '../lib/stats';
import { type Repetition, TOKENS_PER_SECOND, pacedOnce } from './d-pacedLatency';
import type { Scenario } from './types';

/** p99 bounds an operator sizes by: the capacity is the most streams with p99 under each. */
const BOUNDS_MS = [5, 25];
/** A point past this p99 (or with tokens undelivered) is saturated: the sweep of that target stops there. */
const SATURATED_MS = 250;

interface Point extends Repetition {
  streams: number;
}

interface Curve {
  name: string;
  points: Point[];
}

/**
 * (i) The capacity curve behind (d): paced streams at 50 tokens/s each, one
 * token per Publish message as a real producer sends them, Publish →
 * Subscribe, swept from 100 streams up until p99 passes 250 ms or tokens go
 * undelivered, for the relay, the bare grpc-js forwarder and the node:http2
 * forwarder, one point at a time. A point is the median of three 10 s windows
 * (one with --quick; --reps sets it), the targets taking turns in each. Each
 * target's capacity is its largest stream count with p99 under 5 ms and under
 * 25 ms, with its CPU there. The curves are drawn in an SVG (p99 against
 * streams, both on log scales), in the run's folder and, for a full run, in
 * bench/capacity.svg.
 */
export const capacityCurve: Scenario = {
  id: 'i',
  title: 'capacity: paced streams one process carries with p99 < 5 ms and < 25 ms, against both forwarders',
  async run(context) {
    // Steps of 1.2-1.5x up to 1,000, where the p99 < 5 ms capacities lie: with doubling steps a capacity could
    // only be read as 0.5x, 1x or 2x another, never the 1.5x the target asks about. Coarser above 1,000.
    const counts = context.size(
      [100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 1000, 1250, 1500, 2000, 3000, 4000, 6000, 8000],
      [100, 400],
    );
    const producer = context.worker('producer');
    const consumer = context.worker('consumer');
    const withBaselines = context.options.baselines;
    const targets: Array<{ curve: Curve; server: ServerChild; done: boolean }> = [];
    const relay = await context.relay();
    targets.push({ curve: { name: 'tokenrelay', points: [] }, server: relay, done: false });
    if (withBaselines) {
      const [grpc, http2] = await Promise.all([context.baseline('grpc'), context.baseline('http2')]);
      targets.push({ curve: { name: 'bare grpc-js forwarder', points: [] }, server: grpc, done: false });
      targets.push({ curve: { name: 'bare node:http2 forwarder (no grpc-js)', points: [] }, server: http2, done: false });
    }
    // One point is the median of `reps` windows, the targets taking turns in each: a single 10 s window's p99 is
    // decided by the few GC pauses that fall in it, and moved a target's capacity by one step between runs.
    const reps = context.reps(3, 1);
    for (const streams of counts) {
      const live = targets.filter((candidate) => !candidate.done);
      const measured = new Map(live.map((target) => [target, [] as Repetition[]]));
      for (let rep = 0; rep < reps; rep++) {
        for (const target of live) {
          const once = await pacedOnce(context, target.server, producer, consumer, streams, `i${streams}-${rep}`);
          measured.get(target)?.push(once);
          context.log(
            `${target.curve.name}, ${formatNumber(streams)} streams, rep ${rep + 1}/${reps}: p50 ${formatNumber(once.p50Ms)} ms, ` +
              `p99 ${formatNumber(once.p99Ms)} ms, server CPU ${once.serverCpu.toFixed(0)}%, load client CPU ${once.clientCpu.toFixed(0)}%, ` +
              `${once.undelivered} undelivered`,
          );
        }
      }
      for (const target of live) {
        const point = { ...medianRepetition(measured.get(target) ?? []), streams };
        target.curve.points.push(point);
        if (reps > 1) {
          context.log(
            `${target.curve.name}, ${formatNumber(streams)} streams, median of ${reps}: p99 ${formatNumber(point.p99Ms)} ms, server CPU ${point.serverCpu.toFixed(0)}%`,
          );
        }
        target.done = point.p99Ms > SATURATED_MS || point.undelivered > 0;
      }
      if (targets.every((target) => target.done)) break;
    }
    const capacities = targets.map(({ curve }) => {
      const within = BOUNDS_MS.map((bound) => largestWithin(curve, bound));
      for (const [index, bound] of BOUNDS_MS.entries()) {
        const point = within[index];
        context.row(`${curve.name}: most paced streams with p99 < ${bound} ms (${TOKENS_PER_SECOND} tokens/s each)`, 'streams', [
          point?.streams ?? 0,
        ]);
        if (point) context.row(`${curve.name}: server CPU at that point (p99 < ${bound} ms)`, '% of a core', [point.serverCpu]);
      }
      return { curve, within };
    });
    const svg = plot(capacities.map(({ curve }) => curve));
    writeFileSync(path.join(context.runDir, 'capacity.svg'), svg);
    if (!context.quick) writeFileSync(path.join(ROOT, 'bench/capacity.svg'), svg);
    context.log(`the curves: ${path.join(context.runDir, 'capacity.svg')}${context.quick ? '' : ' and bench/capacity.svg'}`);
    const [mine, grpc] = capacities;
    if (grpc) {
      const relayStreams = mine.within[0]?.streams ?? 0;
      const grpcStreams = grpc.within[0]?.streams ?? 0;
      context.check(
        'the relay carries ≥ 1.5× the bare grpc-js forwarder’s paced streams at p99 < 5 ms (same run)',
        grpcStreams > 0 && relayStreams >= 1.5 * grpcStreams,
        `${formatNumber(relayStreams)} vs ${formatNumber(grpcStreams)} streams (${grpcStreams > 0 ? (relayStreams / grpcStreams).toFixed(2) : '∞'}×)`,
      );
    }
  },
};

/**
 * A point from its repetitions: the median of each figure taken on its own
 * (p99 and CPU need not come from the same window), and the most tokens any
 * window left undelivered, so one lost token still ends a target's sweep.
 */
function medianRepetition(repetitions: Repetition[]): Repetition {
  const median = (key: keyof Repetition) => summarize(repetitions.map((repetition) => repetition[key])).median;
  return {
    p50Ms: median('p50Ms'),
    p99Ms: median('p99Ms'),
    serverCpu: median('serverCpu'),
    clientCpu: median('clientCpu'),
    writtenPerSecond: median('writtenPerSecond'),
    undelivered: Math.max(...repetitions.map((repetition) => repetition.undelivered)),
  };
}

/** The largest stream count measured with p99 under the bound, below any count that was over it; undefined if none. */
function largestWithin(curve: Curve, boundMs: number): Point | undefined {
  let best: Point | undefined;
  for (const point of curve.points) {
    if (point.p99Ms >= boundMs || point.undelivered > 0) break;
    best = point;
  }
  return best;
}

const COLOURS = ['#1f6feb', '#d1242f', '#1a7f37'];

/** p99 latency against streams, log-log, one line per target, with the 5 and 25 ms bounds dashed. */
function plot(curves: Curve[]): string {
  const width = 720;
  const height = 420;
  const margin = { left: 70, right: 20, top: 30, bottom: 50 };
  const allPoints = curves.flatMap((curve) => curve.points);
  const xMin = 100;
  const xMax = Math.max(1000, ...allPoints.map((point) => point.streams));
  const yMin = 0.1;
  const yMax = Math.max(100, ...allPoints.map((point) => Math.min(point.p99Ms, 10_000)));
  const x = (streams: number) =>
    margin.left + ((Math.log10(streams) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * (width - margin.left - margin.right);
  const y = (ms: number) =>
    height -
    margin.bottom -
    ((Math.log10(Math.max(ms, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (height - margin.top - margin.bottom);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">p99 latency, producer write → consumer, ${TOKENS_PER_SECOND} tokens/s per stream</text>`,
  );
  for (const tick of decades(xMin, xMax)) {
    parts.push(`<line x1="${x(tick)}" x2="${x(tick)}" y1="${margin.top}" y2="${height - margin.bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${x(tick)}" y="${height - margin.bottom + 16}" text-anchor="middle">${formatNumber(tick)}</text>`);
  }
  for (const tick of decades(yMin, yMax)) {
    parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(tick)}" y2="${y(tick)}" stroke="#eee"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${Number(y(tick)) + 4}" text-anchor="end">${tick} ms</text>`);
  }
  for (const bound of BOUNDS_MS) {
    parts.push(
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(bound)}" y2="${y(bound)}" stroke="#888" stroke-dasharray="4 4"/>`,
    );
    parts.push(`<text x="${width - margin.right - 4}" y="${Number(y(bound)) - 4}" text-anchor="end" fill="#555">${bound} ms</text>`);
  }
  parts.push(
    `<text x="${(margin.left + width - margin.right) / 2}" y="${height - 12}" text-anchor="middle">paced streams (log scale)</text>`,
  );
  for (const [index, curve] of curves.entries()) {
    const colour = COLOURS[index % COLOURS.length];
    const points = curve.points.map((point) => `${x(point.streams)},${y(Math.min(point.p99Ms, yMax))}`);
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.join(' ')}"/>`);
    for (const point of points) {
      const [px, py] = point.split(',');
      parts.push(`<circle cx="${px}" cy="${py}" r="3" fill="${colour}"/>`);
    }
    parts.push(`<rect x="${margin.left + 10}" y="${margin.top + 8 + index * 18}" width="12" height="3" fill="${colour}"/>`);
    parts.push(`<text x="${margin.left + 28}" y="${margin.top + 13 + index * 18}">${escapeXml(curve.name)}</text>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Powers of ten from the one at or below `from` up to `to`. */
function decades(from: number, to: number): number[] {
  const ticks: number[] = [];
  for (let tick = 10 ** Math.floor(Math.log10(from)); tick <= to; tick *= 10) ticks.push(Number(tick.toPrecision(1)));
  return ticks;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
