import pino, { type Logger } from 'pino';

/** Bytes of log lines gathered before one write. */
const BUFFER_BYTES = 4096;
/** Most ms a line waits in the buffer. */
const FLUSH_EVERY_MS = 250;

/** The levels TOKENRELAY_LOG_LEVEL takes (pino's). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** How lines are written: `pretty` (pino-pretty) or `json` lines. */
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * JSON lines on stdout; pretty lines when stdout is a terminal (pino-pretty),
 * unless `format` says which.
 * Level from TOKENRELAY_LOG_LEVEL (default info).
 *
 * Lines are buffered and written asynchronously (sonic-boom, sync: false):
 * one write per 4 KiB of lines, or every 250 ms, instead of one syscall per
 * call line on the call's own path (a write cost about 40 µs here, a sixth of
 * the relay's time to first token), and a slow log reader (a full pipe to
 * the container runtime) never blocks the event loop. A line is therefore up
 * to 250 ms late; pino flushes what is left synchronously when the process
 * exits (a SIGKILL loses at most that last quarter second). Lines that say
 * the server's state changed (serving, stopped) are flushed at once.
 */
export function createLogger(level = process.env.TOKENRELAY_LOG_LEVEL ?? 'info', worker?: number, format?: LogFormat): Logger {
  const options = { level, base: { service: 'tokenrelay', ...(worker === undefined ? {} : { worker }) } };
  if (format === 'pretty' || (format === undefined && process.stdout.isTTY)) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  const logger = pino(options, pino.destination({ dest: 1, sync: false, minLength: BUFFER_BYTES }));
  setInterval(() => logger.flush(), FLUSH_EVERY_MS).unref();
  return logger;
}
