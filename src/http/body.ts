import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors';

function tooLarge(bytes: string, maxBytes: number): HttpError {
  return new HttpError(413, `body: ${bytes} bytes is over the limit of ${maxBytes} bytes`, {
    param: null,
    code: 'request_too_large',
  });
}

/**
 * Reads a request body of at most maxBytes and parses it as JSON. A body over
 * the limit is 413 (Content Too Large) as soon as it is known to be: from its
 * Content-Length, or once the bytes read pass the limit. Only the bytes up to
 * the limit are ever held; the rest is read and dropped, so the connection
 * stays usable and the client reads the answer instead of a reset.
 * Not JSON is 400. A Content-Type other than application/json is 415 before
 * the body is read: a browser sends a cross-site form (text/plain,
 * form-urlencoded, multipart) without asking, but never application/json, so
 * this keeps another site's page from starting generations.
 */
export function readJsonBody(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const type = request.headers['content-type'];
    const mediaType = type?.split(';')[0].trim().toLowerCase();
    if (mediaType !== 'application/json') {
      request.resume();
      const got = type === undefined ? 'none' : JSON.stringify(type.slice(0, 100));
      reject(
        new HttpError(415, `content-type: must be application/json, got ${got}`, {
          param: null,
          code: 'unsupported_media_type',
        }),
      );
      return;
    }
    const declared = Number(request.headers['content-length']);
    if (declared > maxBytes) {
      request.resume();
      reject(tooLarge(String(declared), maxBytes));
      return;
    }
    const parts: Buffer[] = [];
    let bytes = 0;
    let over = false;
    request.on('data', (part: Buffer) => {
      if (over) return;
      bytes += part.length;
      if (bytes > maxBytes) {
        over = true;
        parts.length = 0;
        reject(tooLarge(`more than ${maxBytes}`, maxBytes));
        return;
      }
      parts.push(part);
    });
    request.on('end', () => {
      if (over) return;
      const text = Buffer.concat(parts).toString('utf8');
      if (text.trim() === '') {
        reject(new HttpError(400, 'body: is empty; send a JSON object', { code: 'invalid_json' }));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(new HttpError(400, `body: not valid JSON: ${(error as Error).message}`, { code: 'invalid_json' }));
      }
    });
    request.on('error', reject);
    // 'close' before 'end': the client went away mid-body; nobody is left to answer.
    request.on('close', () => {
      if (!request.complete) reject(new HttpError(400, 'body: the client closed the connection before the end of the body'));
    });
  });
}
