import type { DataServiceServer } from '../gen/tokenrelay/v1/data_service';
import { cancel } from './cancel';
import type { ServiceContext } from './context';
import { generate } from './generate';
import { listModels } from './listModels';
import { publish } from './publish';
import { streamData } from './streamData';
import { subscribe } from './subscribe';

export type { ServiceContext } from './context';

/** The DataService handlers: each a thin mapping of one RPC onto the stream log and the models. */
export function createDataService(context: ServiceContext): DataServiceServer {
  return {
    listModels: listModels(context),
    generate: generate(context),
    subscribe: subscribe(context),
    publish: publish(context),
    streamData: streamData(context),
    cancel: cancel(context),
  };
}
