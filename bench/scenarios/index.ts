import { generateOneStream } from './a-generate';
import { publishSubscribe } from './b-publishSubscribe';
import { concurrentStreams } from './c-concurrent';
import { pacedLatency } from './d-pacedLatency';
import { idleStreams } from './e-idleStreams';
import { timeToFirstToken } from './f-ttft';
import { slowConsumer } from './g-slowConsumer';
import { burstPublish } from './h-burstPublish';
import { capacityCurve } from './i-capacity';
import type { Scenario } from './types';

/** The scenarios, (a) to (i), in order. */
export const SCENARIOS: Scenario[] = [
  generateOneStream,
  publishSubscribe,
  concurrentStreams,
  pacedLatency,
  idleStreams,
  timeToFirstToken,
  slowConsumer,
  burstPublish,
  capacityCurve,
];
