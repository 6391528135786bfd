import type { ScenarioContext } from '../lib/context';
import type { ScenarioId } from '../lib/options';

export interface Scenario {
  id: ScenarioId;
  /** What the scenario measures and its target, in a line. */
  title: string;
  run(context: ScenarioContext): Promise<void>;
}
