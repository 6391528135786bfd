import type { DataServiceClient } from '../../src/gen/tokenrelay/v1/data_service';
import { dataClient } from './channel';

const clients = new Map<string, DataServiceClient>();

/**
 * The worker's client for an address and purpose: kept across repetitions so
 * each repetition runs on a warm connection; a different purpose gets its own
 * connection.
 */
export function clientFor(address: string, purpose = 'default'): DataServiceClient {
  const key = `${purpose}@${address}`;
  let client = clients.get(key);
  if (!client) {
    client = dataClient(address, true);
    clients.set(key, client);
  }
  return client;
}

/** Closes every client of the worker (between scenarios). */
export function closeAllClients(): void {
  for (const client of clients.values()) client.close();
  clients.clear();
}

/** Closes the worker's clients for an address (its server is going away). */
export function closeClients(address: string): void {
  for (const [key, client] of clients) {
    if (key.endsWith(`@${address}`)) {
      client.close();
      clients.delete(key);
    }
  }
}
