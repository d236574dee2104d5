/** What a FaultEngine is built from: its settings, its ports (log, events, store, clock) and the dependency relay. */
import type { Registry } from 'prom-client';
import type { Clock } from '../../core/index.js';
import type { FaultKindRegistry } from './registry.js';
import type { FaultSettings } from './settings.js';
import type { FaultEventSink, FaultLog, FaultStore } from './switches.js';
import type { DependencyRuleSink } from './types.js';

export interface FaultEngineOptions {
  config: FaultSettings;
  environment: string;
  env?: NodeJS.ProcessEnv;
  registry: Registry;
  kinds?: FaultKindRegistry;
  clock?: Clock;
  monotonic?: () => number;
  random?: () => number;
  log: FaultLog;
  events?: FaultEventSink;
  store: FaultStore;
  /** the dependency relay (proxy/tcp): given the live rules of the TCP kinds on every change */
  dependencies?: DependencyRuleSink & { names(): string[] };
}
