import type { HttpContext, HttpHandler } from './context';
import { sendJson } from './errors';

/**
 * GET /v1/models: the configured models as OpenAI lists them, plus the
 * extension `default_model` (what an empty `model` means) so a page can
 * preselect it.
 */
export function listModels(context: HttpContext): HttpHandler {
  const created = Math.floor(Date.now() / 1000);
  return (call) => {
    sendJson(call.response, 200, {
      object: 'list',
      data: context.models.list().map(({ description }) => ({
        id: description.name,
        object: 'model',
        created,
        owned_by: 'tokenrelay',
        backend: description.backend,
        description: description.description,
      })),
      default_model: context.models.defaultModel,
    });
  };
}
