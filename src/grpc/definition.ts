import { DataServiceService } from '../gen/tokenrelay/v1/data_service';
import { encodeTokenChunk } from './tokenChunkEncoder';

/**
 * A request message that did not decode (truncated, a wrong wire type, a
 * length past the end). grpc-js answers a decoder that throws with INTERNAL
 * "Error deserializing request", which blames the server for the client's
 * bytes; handing this value on instead lets the errors interceptor answer
 * INVALID_ARGUMENT naming the message type.
 */
export class UndecodableRequest {
  constructor(
    /** The proto message type, e.g. tokenrelay.v1.GenerateRequest. */
    readonly typeName: string,
    /** What the decoder said. */
    readonly reason: string,
  ) {}

  get message(): string {
    return `request: not a valid ${this.typeName} message: ${this.reason}`;
  }
}

function tolerant<Message>(typeName: string, decode: (bytes: Buffer) => Message): (bytes: Buffer) => Message {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (error) {
      return new UndecodableRequest(typeName, error instanceof Error ? error.message : String(error)) as Message;
    }
  };
}

type Methods = typeof DataServiceService;

/** Each method's request message type, for the error message (a Record, so a new method must be named here). */
const REQUEST_TYPES: Record<keyof Methods, string> = {
  listModels: 'ListModelsRequest',
  generate: 'GenerateRequest',
  subscribe: 'SubscribeRequest',
  publish: 'PublishRequest',
  streamData: 'DataRequest',
  cancel: 'CancelRequest',
};

/**
 * The DataService definition the server registers: the generated one, with
 * the hand-written TokenChunk encoder on Generate and Subscribe (the hot
 * path) and request decoders that never throw.
 */
export const DataServiceDefinition: Methods = Object.fromEntries(
  Object.entries(DataServiceService).map(([name, method]) => {
    const typeName = `tokenrelay.v1.${REQUEST_TYPES[name as keyof Methods]}`;
    const hot = name === 'generate' || name === 'subscribe';
    return [
      name,
      {
        ...method,
        requestDeserialize: tolerant(typeName, method.requestDeserialize as (bytes: Buffer) => unknown),
        ...(hot ? { responseSerialize: encodeTokenChunk } : {}),
      },
    ];
  }),
) as Methods;
