import type { Logger } from 'pino';
import type { ModelCatalog } from '../models/catalog';
import type { Config } from '../server/config';
import type { StreamRegistry } from '../streams/registry';

/** What every handler needs: the stream log, the models, the config, a logger. */
export interface ServiceContext {
  readonly config: Config;
  readonly registry: StreamRegistry;
  readonly models: ModelCatalog;
  readonly logger: Logger;
}
