/**
 * Built-in simulation scenarios (src/sim/scenarios.ts) run in the page:
 * the same scenario and seed give the same packet-trace SHA-256 here as in
 * Node (`lwip-wasm sim <name> --seed N`), which is how the Chromium test
 * proves determinism across engines. The scenario runs on its own
 * Simulation and clock, as fast as it can, independent of the playground's
 * virtual time. window.lwipPlayground.runScenario exposes the same call.
 */
import { findScenario, runScenario, scenarios } from '../../src/index.js';
import { byId, setText } from './dom.js';

/** What the page reports for one scenario run. */
export interface ScenarioResult {
  scenario: string;
  seed: number;
  ok: boolean;
  problems: string[];
  hash: string;
  send: number;
  drop: number;
  deliver: number;
  virtualMs: number;
  realMs: number;
}

/** Runs a built-in scenario by name with a seed. Throws RangeError for an unknown name. */
export async function runBuiltIn(name: string, seed: number): Promise<ScenarioResult> {
  const scenario = findScenario(name);
  if (!scenario) throw new RangeError(`unknown scenario '${name}'`);
  const s = await runScenario(scenario, { seed });
  return {
    scenario: s.scenario,
    seed: s.seed,
    ok: s.ok,
    problems: s.problems,
    hash: s.trace.hash,
    send: s.trace.send,
    drop: s.trace.drop,
    deliver: s.trace.deliver,
    virtualMs: s.virtualMs,
    realMs: s.realMs,
  };
}

export class ScenarioPanel {
  readonly #select = byId<HTMLSelectElement>('scenario');
  readonly #seed = byId<HTMLInputElement>('scenario-seed');
  readonly #run = byId<HTMLButtonElement>('scenario-run');
  readonly #out = byId('scenario-result');

  constructor(onError: (error: unknown) => void) {
    for (const s of scenarios) {
      const o = document.createElement('option');
      o.value = s.name;
      o.textContent = s.name;
      o.title = s.description ?? '';
      this.#select.append(o);
    }
    this.#run.addEventListener('click', () => {
      this.#run.disabled = true;
      setText(this.#out, 'running…');
      runBuiltIn(this.#select.value, Number(this.#seed.value))
        .then((r) => {
          setText(
            this.#out,
            `${r.scenario} seed ${r.seed}: ${r.ok ? 'ok' : 'FAILED ' + r.problems.join('; ')}\n` +
              `${(r.virtualMs / 1000).toFixed(3)} virtual s in ${(r.realMs / 1000).toFixed(2)} real s; ` +
              `${r.send} sent, ${r.drop} dropped, ${r.deliver} delivered\ntrace sha256 ${r.hash}`,
          );
          this.#out.dataset.hash = r.hash;
        })
        .catch((e: unknown) => {
          setText(this.#out, '');
          onError(e);
        })
        .finally(() => (this.#run.disabled = false));
    });
  }
}
