import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import path from 'node:path';

const definition = loadSync(path.join(__dirname, '../../proto/grpc/health/v1/health.proto'), { keepCase: true, enums: String });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const Health = (loadPackageDefinition(definition) as any).grpc.health.v1.Health;

export interface HealthClient extends Client {
  check(request: { service: string }, callback: (error: ServiceError | null, response: { status: string }) => void): void;
}

/** A grpc.health.v1.Health client built from the standard health.proto. */
export function healthClient(address: string): HealthClient {
  return new Health(address, credentials.createInsecure()) as HealthClient;
}

export function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.check({ service }, (error, response) => (error ? reject(error) : resolve(response.status))),
  );
}
