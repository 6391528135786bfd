import { existsSync } from 'node:fs';
import path from 'node:path';
import { describeRun, run } from '../helpers/run';

/**
 * There is no Docker engine here, so the compose file is checked statically:
 * docker-compose (Debian's, installed by .ci/run) must parse it, and what it
 * resolves to must be two replicas on one Redis with the redis store.
 */
it('docker-compose.yml parses and runs two replicas of the redis store on one Redis', async () => {
  if (!existsSync('/usr/bin/docker-compose')) throw new Error('docker-compose is missing: apt-get install docker-compose (.ci/run does)');
  const args = ['--file', path.join(__dirname, '../../docker-compose.yml'), 'config'];
  const result = await run('/usr/bin/docker-compose', args, { timeoutMs: 20_000 });
  if (result.code !== 0) throw new Error(describeRun('docker-compose', args, result));
  // docker-compose 1.x prints YAML; PyYAML comes with it.
  const toJson = ['-I', '-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'];
  const converted = await run('/usr/bin/python3', toJson, { input: result.stdout });
  if (converted.code !== 0) throw new Error(describeRun('python3', toJson, converted));
  const config = JSON.parse(converted.stdout) as {
    services: Record<
      string,
      { environment?: Record<string, string>; ports?: Array<{ published: string | number; target: number }>; depends_on?: object }
    >;
  };
  expect(Object.keys(config.services).sort()).toEqual(['redis', 'replica-a', 'replica-b']);
  for (const name of ['replica-a', 'replica-b']) {
    const service = config.services[name];
    expect(service.environment).toMatchObject({ TOKENRELAY_STORE: 'redis', TOKENRELAY_REDIS_URL: 'redis://redis:6379' });
    expect(Object.keys(service.depends_on ?? {})).toEqual(['redis']);
  }
  const published = ['replica-a', 'replica-b'].flatMap((name) => (config.services[name].ports ?? []).map((port) => Number(port.published)));
  expect(new Set(published).size).toBe(published.length); // no two replicas on one host port
});
