import pino, { type Logger } from 'pino';

/**
 * JSON lines on stdout; pretty lines when stdout is a terminal (pino-pretty).
 * Level from TOKENRELAY_LOG_LEVEL (default info).
 */
export function createLogger(level = process.env.TOKENRELAY_LOG_LEVEL ?? 'info'): Logger {
  const options = { level, base: { service: 'tokenrelay' } };
  if (process.stdout.isTTY) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(options);
}
