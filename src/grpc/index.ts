import type { DataServiceServer } from '../gen/tokenrelay/v1/data_service';
import { cancel } from './cancel';
import type { ServiceContext } from '../core/context';
import { generate } from './generate';
import { guardHandler } from './guard';
import { listModels } from './listModels';
import { publish } from './publish';
import { streamData } from './streamData';
import { subscribe } from './subscribe';

export type { ServiceContext } from '../core/context';

/** The DataService handlers: each a thin mapping of one RPC onto the stream log and the models. */
export function createDataService(context: ServiceContext): DataServiceServer {
  const handlers: DataServiceServer = {
    listModels: listModels(context),
    generate: generate(context),
    subscribe: subscribe(context),
    publish: publish(context),
    streamData: streamData(context),
    cancel: cancel(context),
  };
  const table = handlers as unknown as Record<string, unknown>;
  for (const name of Object.keys(table)) table[name] = guardHandler(name, table[name], context.logger);
  return handlers;
}
