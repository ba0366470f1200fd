/**
 * src/sim: network simulation in virtual time. A Simulation (scheduler.ts)
 * owns one VirtualClock shared by several stacks and the impaired links
 * between them (impaired-link.ts), each with a seeded fault model
 * (impairments.ts) and scripted faults (script.ts); traces (trace.ts) prove
 * that the same seed gives byte-identical runs; scenarios.ts packages
 * two-stack exchanges as data for tests and the `lwip-wasm sim` command.
 * Sits above src/tcp and src/packet; nothing below depends on it.
 */
export {
  Simulation,
  type SimulationOptions,
  type RunOptions,
  type RunResult,
} from './scheduler.js';
export {
  impairLink,
  type ImpairedLink,
  type ImpairedLinkOptions,
  type LinkEvent,
  type LinkObserver,
  type LinkDirectionStats,
} from './impaired-link.js';
export {
  DirectionFaults,
  checkImpairments,
  flipRandomBit,
  type Impairments,
  type LossSpec,
  type ReorderSpec,
  type DropReason,
  type ScriptEffect,
  type Arrival,
  type Decision,
} from './impairments.js';
export {
  Script,
  toPredicate,
  allOf,
  anyOf,
  dropNth,
  dropAll,
  partition,
  isTcp,
  isSyn,
  isSynAck,
  isFin,
  isRst,
  isData,
  isPureAck,
  type LinkDirection,
  type PacketInfo,
  type PacketPredicate,
  type PacketMatchName,
  type PacketMatchSpec,
  type ScriptAction,
  type ScriptRule,
} from './script.js';
export { Trace, formatEntry, type TraceEntry, type TraceOptions } from './trace.js';
export {
  scenarios,
  findScenario,
  checkScenario,
  runScenario,
  type Scenario,
  type ScenarioLink,
  type ScenarioSummary,
  type EndSummary,
  type ExchangeKind,
  type RunScenarioOptions,
} from './scenarios.js';
export { SimRandom, deriveSeed } from './random.js';
export { Sha256 } from './sha256.js';
