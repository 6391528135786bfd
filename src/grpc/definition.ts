import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { DataServiceService, type PublishRequest } from '../gen/tokenrelay/v1/data_service';
import { StatusCode, StreamFailure } from '../core/streams/status';
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
    /** The field at fault, when one is known (e.g. chunk.tokens[3]). */
    readonly field?: string,
  ) {}

  get message(): string {
    return this.field ? `${this.field}: ${this.reason}` : `request: not a valid ${this.typeName} message: ${this.reason}`;
  }

  /** INVALID_ARGUMENT naming the field, or the whole `request` when no field is known. */
  failure(): StreamFailure {
    return new StreamFailure(StatusCode.INVALID_ARGUMENT, this.message, { field: this.field ?? 'request' });
  }
}

const PUBLISH_CHUNK_FIELD = 2;
const TOKEN_CHUNK_TOKENS_FIELD = 3;

/**
 * The index of the first of a PublishRequest's chunk.tokens that is not valid
 * UTF-8, or -1. The generated decoder turns bad bytes into U+FFFD, silently
 * changing a producer's text; this strict second reading runs only on a
 * message whose tokens hold a U+FFFD, so well-formed traffic never pays for it.
 */
function invalidUtf8Token(bytes: Buffer): number {
  const outer = new BinaryReader(bytes);
  while (outer.pos < outer.len) {
    const [field, wireType] = outer.tag();
    if (field !== PUBLISH_CHUNK_FIELD || wireType !== WireType.LengthDelimited) {
      outer.skip(wireType, field);
      continue;
    }
    const chunk = new BinaryReader(outer.bytes());
    let index = 0;
    while (chunk.pos < chunk.len) {
      const [chunkField, chunkWireType] = chunk.tag();
      if (chunkField !== TOKEN_CHUNK_TOKENS_FIELD || chunkWireType !== WireType.LengthDelimited) {
        chunk.skip(chunkWireType, chunkField);
        continue;
      }
      try {
        chunk.string(true);
      } catch {
        return index;
      }
      index++;
    }
  }
  return -1;
}

/** Publish's decoder: the generated one, refusing a token that is not UTF-8 instead of rewriting it. */
function decodePublish(decode: (bytes: Buffer) => PublishRequest): (bytes: Buffer) => PublishRequest {
  return (bytes) => {
    const request = decode(bytes);
    if (!request.chunk?.tokens.some((token) => token.includes('\uFFFD'))) return request;
    const index = invalidUtf8Token(bytes);
    if (index < 0) return request;
    return new UndecodableRequest(
      'tokenrelay.v1.PublishRequest',
      'not valid UTF-8 (tokens are text: join the byte pieces of a character before publishing it)',
      `chunk.tokens[${index}]`,
    ) as unknown as PublishRequest;
  };
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
        requestDeserialize: tolerant(
          typeName,
          name === 'publish'
            ? decodePublish(method.requestDeserialize as (bytes: Buffer) => PublishRequest)
            : (method.requestDeserialize as (bytes: Buffer) => unknown),
        ),
        ...(hot ? { responseSerialize: encodeTokenChunk } : {}),
      },
    ];
  }),
) as Methods;
