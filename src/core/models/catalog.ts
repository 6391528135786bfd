import type { ModelConfig } from '../config';
import { StatusCode, fieldFailure } from '../streams/status';
import { EchoModel } from './echo';
import { SimModel } from './sim';
import { createUpstreamModel } from './upstream';
import type { ModelBackend } from './types';

/** The configured models by name, and the default one. */
export class ModelCatalog {
  private readonly byName = new Map<string, ModelBackend>();

  constructor(
    configs: readonly ModelConfig[],
    readonly defaultModel: string,
  ) {
    for (const [index, config] of configs.entries()) this.byName.set(config.name, createModel(config, index));
  }

  /** Adds (or replaces) a model under its description's name: how an embedder plugs in its own backend. */
  register(model: ModelBackend): void {
    this.byName.set(model.description.name, model);
  }

  list(): ModelBackend[] {
    return [...this.byName.values()];
  }

  /** The named model (the default for an empty name); NOT_FOUND otherwise. */
  resolve(name: string): ModelBackend {
    const model = this.byName.get(name || this.defaultModel);
    if (!model) {
      const known = [...this.byName.keys()].join(', ');
      throw fieldFailure(StatusCode.NOT_FOUND, 'model', `no model named ${JSON.stringify(name)} (known: ${known})`, {
        reason: 'MODEL_NOT_FOUND',
      });
    }
    return model;
  }
}

function createModel(config: ModelConfig, index: number): ModelBackend {
  switch (config.backend) {
    case 'echo':
      return new EchoModel(config);
    case 'sim':
      return new SimModel(config);
    case 'openai':
    case 'ollama':
      return createUpstreamModel(config, index);
  }
}
