import http from 'node:http';
import { nowNs } from '../lib/stats';

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

export interface SseParams {
  port: number;
  tokens: number;
  seed: number;
}

/**
 * Reads one SSE generation the way a browser-style client would: split the
 * byte stream into events, JSON-parse each `data:` line, check seq. Calls
 * onFirstToken at the first event.
 */
export function readSse(params: SseParams, onFirstToken?: () => void): Promise<{ tokens: number; error?: string }> {
  return new Promise((resolve) => {
    const path = `/generate?max_tokens=${params.tokens}&seed=${params.seed}`;
    const request = http.get({ host: '127.0.0.1', port: params.port, path, agent }, (response) => {
      response.setEncoding('utf8');
      let pending = '';
      let tokens = 0;
      let error: string | undefined;
      response.on('data', (text: string) => {
        pending += text;
        let start = 0;
        for (let end = pending.indexOf('\n\n'); end !== -1; end = pending.indexOf('\n\n', start)) {
          const data = pending.slice(start + 6, end); // after "data: "
          start = end + 2;
          if (data === '[DONE]') continue;
          const event = JSON.parse(data) as { seq: number; token: string };
          if (event.seq !== tokens && !error) error = `seq ${event.seq} where ${tokens} was due`;
          if (tokens++ === 0) onFirstToken?.();
        }
        pending = pending.slice(start);
      });
      response.on('end', () => resolve({ tokens, error }));
      response.on('error', (failure) => resolve({ tokens, error: failure.message }));
    });
    request.on('error', (failure) => resolve({ tokens: 0, error: failure.message }));
  });
}

/** One SSE stream, unpaced: tokens and time as the consumer sees them. */
async function run(params: SseParams): Promise<{ tokens: number; seconds: number; broken: number; errors: string[] }> {
  const started = nowNs();
  const result = await readSse(params);
  const seconds = (nowNs() - started) / 1e9;
  const error = result.error ?? (result.tokens === params.tokens ? undefined : `${result.tokens} tokens`);
  return { tokens: result.tokens, seconds, broken: error ? 1 : 0, errors: error ? [error] : [] };
}

export const sseCommands = { 'sse.run': run };
