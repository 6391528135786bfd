import { ConfigError, type UpstreamModelConfig } from '../../config';
import type { ModelBackend } from '../types';
import { UpstreamHttp } from './http';
import { UpstreamModel } from './model';
import { ollamaFormat } from './ollama';
import { openAiFormat } from './openai';

export { UpstreamModel } from './model';

/**
 * The model a config entry names, its API key read from the environment now
 * (at startup) and held only by its HTTP client.
 */
export function createUpstreamModel(config: UpstreamModelConfig, index = 0): ModelBackend {
  let apiKey: string | undefined;
  if (config.apiKeyEnv !== undefined) {
    apiKey = process.env[config.apiKeyEnv];
    if (!apiKey) {
      throw new ConfigError(`models[${index}] (${config.name}).apiKeyEnv: environment variable ${config.apiKeyEnv} is unset or empty`);
    }
  }
  const http = new UpstreamHttp({
    baseUrl: config.baseUrl,
    apiKey,
    headers: config.headers,
    connectMs: config.timeouts.connectMs,
    headersMs: config.timeouts.headersMs,
    idleMs: config.timeouts.idleMs,
    maxConcurrent: config.maxConcurrent,
    maxQueue: config.maxQueue,
  });
  return new UpstreamModel({
    name: config.name,
    baseUrl: config.baseUrl,
    model: config.model,
    format: config.backend === 'ollama' ? ollamaFormat : openAiFormat,
    http,
    retry: config.retry,
  });
}
