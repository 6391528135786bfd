import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { ListModelsRequest, ListModelsResponse } from '../gen/tokenrelay/v1/data_service';
import type { ServiceContext } from '../core/context';

export function listModels(context: ServiceContext) {
  return (_call: ServerUnaryCall<ListModelsRequest, ListModelsResponse>, callback: sendUnaryData<ListModelsResponse>) => {
    callback(null, {
      models: context.models.list().map(({ description }) => ({
        name: description.name,
        backend: description.backend,
        description: description.description,
        baseUrl: description.baseUrl ?? '',
      })),
      defaultModel: context.models.defaultModel,
    });
  };
}
