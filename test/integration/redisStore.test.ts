import pino from 'pino';
import { RedisStore } from '../../src/core/streams/redis/store';
import { describeStreamStoreContract } from '../contract/streamStore';
import { RedisServer } from '../helpers/redis';
import { waitFor } from '../helpers/server';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());

const quiet = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const noMetrics = {
  roundTrip: () => undefined,
  pipeline: () => undefined,
  takeover: () => undefined,
  producerLost: () => undefined,
  ready: () => undefined,
};
let stores = 0;

describeStreamStoreContract('redis', async (options) => {
  const store = new RedisStore(
    {
      ...options,
      url: redis.url,
      cluster: false,
      keyPrefix: `contract${++stores}`,
      leaseMs: 1000,
      connectTimeoutMs: 2000,
      commandTimeoutMs: 2000,
    },
    quiet,
    noMetrics,
  );
  store.start();
  await waitFor(() => store.ready, 5000, 'redis to be ready');
  return store;
});
