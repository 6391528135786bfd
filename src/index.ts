/** tokenrelay's public TypeScript surface: the server, its config, and the generated contract. */
export { TokenRelayServer, type ServeOptions } from './server/server';
export { loadConfig, parseConfig, type Config } from './core/config';
export * from './gen/tokenrelay/v1/data_service';
export * from './client';
