import { credentials } from '@grpc/grpc-js';
import { channelOptions } from '../../src/client/channel';
import { DataServiceClient, FinishReason, type GenerateRequest, type PublishRequest } from '../../src/gen/tokenrelay/v1/data_service';

/**
 * A generated DataService client (no SDK interceptors: the bench measures the
 * server, and the baselines are read by the same client) with the SDK's
 * channel options. One client is one HTTP/2 connection; `ownConnection`
 * keeps it from sharing one with another client in the process.
 */
export function dataClient(address: string, ownConnection = false): DataServiceClient {
  return new DataServiceClient(
    address,
    credentials.createInsecure(),
    channelOptions(ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
  );
}

/** A full GenerateRequest; temperature and top_p as the baselines use them, so every server streams the same text. */
export function generateRequest(model: string, maxTokens: number, seed: number, prompt = 'bench'): GenerateRequest {
  return {
    model,
    prompt,
    messages: [],
    maxTokens,
    temperature: 1,
    topP: 1,
    stop: [],
    seed,
    streamId: '',
    resumable: false,
  };
}

/** A Publish chunk message. */
export function chunkMessage(seq: number, tokens: string[], finish = false): PublishRequest {
  return {
    chunk: {
      streamId: '',
      seq,
      tokens,
      finishReason: finish ? FinishReason.FINISH_REASON_STOP : FinishReason.FINISH_REASON_UNSPECIFIED,
      usage: undefined,
      heartbeat: false,
    },
  };
}

/** The first `count` tokens of the sim model's text, made before any clock starts. */
export function tokensUpFront(source: Iterator<string>, count: number): string[] {
  const tokens = new Array<string>(count);
  for (let index = 0; index < count; index++) tokens[index] = source.next().value as string;
  return tokens;
}
