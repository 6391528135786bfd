/** The TypeScript SDK for tokenrelay. */
export { TokenRelayClient, createClient, type ClientOptions } from './client';
export type { ClientAddresses } from './target';
export { ResumableStream, type StreamOptions } from './generate';
export { Session, type SessionGeneration } from './session';
export type { PublishOptions, TokenSource } from './publish';
export { TokenRelayError, isTransient } from './errors';
export { fullJitterDelayMs, type BackoffOptions, DEFAULT_BACKOFF } from '../common/backoff';
export { channelOptions, type ClientTls, type Pem } from './channel';
