/**
 * The composition root: builds the proxy, metrics, state and admin from a Config, wires them together, owns
 * the timers and lifecycles (reload, drain). proxy/ and analysis/ meet only here. The CLI and the tests are
 * thin shells over Sidecar.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { pino, destination, type Logger } from 'pino';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { CanarydError, systemClock, type Clock, type Observation } from './core/index.js';
import { isProduction, listenSettings, loadConfigFile, splitHostPort, type Config } from './config/index.js';
import {
  autoMaxConnections,
  AccessLogStage,
  DependencyRelay,
  Mirror,
  ObservationStage,
  ProxyMetrics,
  ProxyServer,
  raiseFdLimit,
  readFdLimits,
  TrafficSplitter,
  WindowedRecorder,
  type Exchange,
  type ProxySettings,
  type RejectReason,
} from './proxy/index.js';
import {
  buildAdmin,
  configDriftSource,
  DriftReconciler,
  EventBus,
  dependencyRoutes,
  faultDriftSource,
  faultRoutes,
  flagDriftSource,
  FlagService,
  AdminToken,
  alertRoutes,
  InfoMetrics,
  MetricsListener,
  SnapshotPublisher,
  weightDriftSource,
  type AdminDeps,
  type WeightOwner,
} from './admin/index.js';
import { createFaults, type FaultService } from './chaos/index.js';
import { StateDirLock, StateStore } from './state/index.js';
import { AnomalyMonitor, judge as defaultJudge, type Judge } from './analysis/index.js';
import { FinopsCosts, prometheusChecksFor, RolloutController, RolloutMetrics, ROLLOUT_FILE, type AnomalyFeed, type RolloutConfig } from './controller/index.js';
import type { RolloutState } from './analysis/index.js';
import { FleetCoordinator, FleetMetricSource, RemoteEvidence, type FleetCommand } from './fleet/index.js';
import { hostname } from 'node:os';

export interface SidecarOptions {
  config: Config;
  configPath?: string;
  logger?: Logger;
  clock?: Clock;
  /** extra admin plugins (rollout, faults, dashboard...) */
  adminPlugins?: AdminDeps['plugins'];
  /** the analysis judge (default: analysis/'s); tests may pass their own */
  judge?: Judge;
  /** builds the anomaly monitor the rollout controller feeds (default: analysis/'s AnomalyMonitor); null: none */
  anomaly?: ((config: RolloutConfig) => AnomalyFeed) | null;
  /** raise the soft open-file limit to the hard one at start (the CLI does; in-process tests do not) */
  raiseFdLimit?: boolean;
}

interface PersistedWeights {
  canary: number;
  /** the config file's canaryWeight when this runtime weight was set: a changed file weight wins */
  fileWeight: number;
  reason: string;
  at: number;
  /** who set it (admin: drift reports and reverts only API-made weights) */
  owner?: WeightOwner;
}

/**
 * stdout for the logs, written asynchronously (sonic-boom): a log line never blocks the event loop in a
 * write(2) while requests wait — the access log made that ~8 % of the hot path's time (bench/RESULTS.md).
 * Lines still go out at once (no minLength batching: tests and operators tail them live); while a write is
 * in flight new lines gather and leave together. A log reader that stalls cannot grow memory without bound:
 * past 8 MB buffered, lines are dropped. pino flushes the buffer when the process exits.
 */
function asyncStdout() {
  return destination({ dest: 1, sync: false, maxLength: 8 * 1024 * 1024 });
}

export function proxySettings(c: Config, fdSoftLimit = readFdLimits()?.soft): ProxySettings {
  const l = c.limits;
  return {
    upstreams: { baseline: c.upstreams.baseline, canary: c.upstreams.canary },
    timeouts: c.timeouts,
    versionHeader: c.proxy.versionHeader,
    retries: c.proxy.retries,
    trustProxy: c.proxy.trustProxy,
    maxHeaderBytes: c.proxy.maxHeaderBytes,
    http2: c.http2,
    tls: listenSettings(c.listen).tls,
    upgrades: c.proxy.upgrades,
    limits: {
      maxConnections: l.maxConnections > 0 ? l.maxConnections : autoMaxConnections(fdSoftLimit, l.adminConnections),
      minBodyRate: l.minBodyRate,
      bufferBodyBytes: l.bufferBodyBytes,
      queue: l.queue,
      perClient: l.perClient,
    },
    drain: { settle: c.shutdown.settle, idleGrace: c.shutdown.idleGrace },
  };
}

/** The config file's text, or undefined while it cannot be read (mid-swap): the next event retries. */
function readConfigText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** canaryd's own version, from its package.json (canaryd_build_info) */
const CANARYD_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();
/** Rejections by a limit are logged at most once per this long per reason, with the count since the last line. */
const REJECT_LOG_EVERY_MS = 10_000;

function defaultAnomalyMonitor(c: RolloutConfig): AnomalyFeed {
  return new AnomalyMonitor({ ...c.anomaly, margin: c.baseline.maxDegradation, countFaulted: c.countFaulted });
}

export class Sidecar {
  config: Config;
  readonly configPath: string | undefined;
  readonly log: Logger;
  readonly clock: Clock;
  readonly registry = new Registry();
  readonly recorder: WindowedRecorder;
  readonly metrics: ProxyMetrics;
  readonly splitter: TrafficSplitter;
  readonly proxy: ProxyServer;
  readonly mirror: Mirror;
  readonly state: StateStore;
  readonly stateLock: StateDirLock;
  readonly startedAt: number;
  admin: FastifyInstance | null = null;
  proxyAddress: { host: string; port: number } | null = null;
  adminAddress: { host: string; port: number } | null = null;
  /** the metrics listener (metrics.listen): /metrics without the admin token */
  metricsAddress: { host: string; port: number } | null = null;
  readonly info: InfoMetrics;
  #metricsListener: MetricsListener | null = null;
  // --- admin: event bus, flags, live snapshots, drift (docs/admin.md) ---
  /** publish here: `sidecar.events.publish({ type: 'decision', ... })`; see docs/admin.md for the event types */
  readonly events: EventBus;
  readonly flags: FlagService;
  readonly snapshots: SnapshotPublisher;
  readonly drift: DriftReconciler;
  /** admin.token or the live content of admin.tokenFile */
  readonly adminToken: AdminToken;
  #weightOwner: WeightOwner = 'file';
  #nextOwner: WeightOwner | null = null;
  #started = false;
  // --- end admin ---
  // --- rollout ---
  readonly rollout: RolloutController;
  /** Prometheus-backed checks (rollout.metrics, docs/prometheus.md), polled by the rollout controller */
  readonly metricChecks: ReturnType<typeof prometheusChecksFor>;
  /** FinOps: cost per version from Prometheus (finops:), its gauges and the compare.costPerRequest check */
  readonly finops: FinopsCosts;
  // --- end rollout ---
  // --- faults ---
  /** fault injection: rules, kill switch, experiments (docs/faults.md) */
  readonly faults: FaultService;
  /** the app's TCP dependencies relayed through canaryd, where the TCP fault kinds act (docs/faults.md "Dependencies") */
  readonly dependencies: DependencyRelay;
  // --- end faults ---
  /** fleet mode (docs/fleet.md): null in the embedded single-process mode */
  readonly fleet: FleetCoordinator | null = null;
  #fleetSource: FleetMetricSource | null = null;
  #fleetTicker: NodeJS.Timeout | null = null;
  #watcher: FSWatcher | null = null;
  /** the config file's content at the last (re)load: the watcher reloads only when it differs */
  #configText: string | undefined;
  #reloadTimer: NodeJS.Timeout | null = null;
  #accessLog: AccessLogStage;
  #adminPlugins: AdminDeps['plugins'];
  #raiseFdLimit: boolean;
  readonly #rejects = new Map<RejectReason, { loggedAt: number; since: number }>();

  constructor(opts: SidecarOptions) {
    this.config = opts.config;
    this.configPath = opts.configPath;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? pino({ level: opts.config.log.level, base: { service: 'canaryd' } }, asyncStdout());
    this.#adminPlugins = opts.adminPlugins;
    this.#raiseFdLimit = opts.raiseFdLimit ?? false;
    this.startedAt = this.clock.now();
    this.#accessLog = new AccessLogStage({ log: this.log, sampleRate: opts.config.log.accessLogSampleRate });
    collectDefaultMetrics({ register: this.registry });
    this.adminToken = new AdminToken(opts.config.admin, this.log);
    this.state = new StateStore(opts.config.state.dir, {
      log: opts.config.state.audit,
      onWriteError: (name, err) => this.log.error({ err, file: name }, `cannot write ${name} under state.dir`),
    });
    // one live canaryd per state.dir (state/lock.ts): taken before any state is read
    this.stateLock = new StateDirLock(opts.config.state.dir);
    const lock = this.stateLock.acquire(this.clock.now());
    if (lock.tookOverFrom) this.log.warn({ event: 'state_lock_taken_over', previous: lock.tookOverFrom }, `took over the stale state.dir lock of pid ${lock.tookOverFrom.pid}`);
    if (this.state.cleaned.length > 0) this.log.warn({ event: 'state_tmp_cleaned', files: this.state.cleaned }, 'removed temp files left by an interrupted write');
    this.recorder = new WindowedRecorder({ now: () => this.clock.now() });
    this.metrics = new ProxyMetrics(this.registry);
    this.info = new InfoMetrics(this.registry, { version: CANARYD_VERSION }, {
      ready: () => this.proxyAddress !== null && !this.proxy.draining,
      production: () => isProduction(this.config.environment, process.env),
      faultsAutoDisabled: () => this.faults.engine.halted?.kind === 'auto-disable',
      stepStartedAt: () => (this.rollout.active ? this.rollout.machine.state.stepStartedAt : null),
      maxStepDurationMs: () => this.config.rollout.maxStepDuration,
    });
    this.info.setReleases({ baseline: opts.config.upstreams.baseline.version, canary: opts.config.upstreams.canary.version });
    this.splitter = new TrafficSplitter(opts.config.routing);
    this.#restoreWeights();
    this.metrics.setTrafficPercent(this.splitter.getWeights().canary);
    this.events = new EventBus({ now: () => this.clock.now(), onError: (err, e) => this.log.error({ err, eventType: e.type }, 'event subscriber failed') });
    this.splitter.onWeightChange((w, prev, reason) => {
      this.#weightOwner = this.#nextOwner ?? (reason === 'config' ? 'file' : 'rollout');
      this.metrics.setTrafficPercent(w.canary);
      this.log.info({ event: 'weights', canary: w.canary, previous: prev.canary, reason, owner: this.#weightOwner }, 'canary weight changed');
      this.#persistWeights(reason);
      this.#audit('weights', reason, { canary: w.canary, previous: prev.canary, owner: this.#weightOwner });
      this.events.publish({ type: 'weights', canary: w.canary, baseline: 100 - w.canary, previous: prev.canary, reason, owner: this.#weightOwner });
    });
    // --- admin: flags feed the splitter's runtime rules; snapshots and drift run on timers started in start() ---
    this.flags = new FlagService({
      store: this.state,
      apply: (rules) => this.splitter.setRuntimeRules(rules),
      now: () => this.clock.now(),
      onChange: (action, flag) => {
        this.log.info({ event: 'flag', action, key: flag.key, enabled: flag.enabled }, `flag ${flag.key} ${action}`);
        this.events.publish({ type: 'flag', action, flag });
      },
    });
    this.#syncFileFlags(opts.config);
    this.snapshots = new SnapshotPublisher({ source: this.recorder, canaryWeight: () => this.splitter.getWeights().canary, sink: this.events, now: () => this.clock.now() });
    this.drift = new DriftReconciler({
      configPath: () => this.configPath,
      load: (p) => loadConfigFile(p),
      settings: () => this.config.admin.reconcile,
      sink: this.events,
      log: this.log,
      now: () => this.clock.now(),
      sources: [
        configDriftSource({ running: () => this.config, apply: (c) => this.applyConfig(c, 'reconcile') }),
        weightDriftSource({ weight: () => this.splitter.getWeights().canary, owner: () => this.#weightOwner, set: (w, reason) => this.#setWeightAs('file', w, reason) }),
        flagDriftSource(this.flags),
      ],
    });
    // --- end admin ---
    this.mirror = new Mirror({
      percent: opts.config.routing.mirror.percent,
      maxBodyBytes: opts.config.routing.mirror.maxBodyBytes,
      target: () => this.proxy.upstream('canary'),
      count: (outcome) => this.metrics.mirrored.labels(outcome).inc(),
    });
    if (opts.config.fleet) this.fleet = this.#buildFleet(opts.config.fleet);
    // --- rollout: the controller reads the recorder, moves the splitter's weight, persists under state.dir ---
    this.metricChecks = prometheusChecksFor(() => this.config, { clock: this.clock, registry: this.registry, log: this.log });
    this.finops = new FinopsCosts({ config: () => this.config, client: () => this.metricChecks.checks.client, clock: this.clock, registry: this.registry });
    const prometheusFeed = {
      poll: (now: number, from: number) => [...this.metricChecks.checks.poll(now, from), ...this.finops.checks(now, from)],
      reset: () => this.metricChecks.checks.reset(),
    };
    this.rollout = new RolloutController({
      config: opts.config.rollout,
      judge: opts.judge ?? defaultJudge,
      anomaly: opts.anomaly === undefined ? defaultAnomalyMonitor : opts.anomaly,
      metricChecks: prometheusFeed,
      source: this.#fleetSource ?? this.recorder,
      traffic: this.splitter,
      store: this.state,
      metrics: new RolloutMetrics(this.registry),
      events: this.events,
      log: this.log,
      clock: this.clock,
      versions: () => ({ baseline: this.config.upstreams.baseline.version, canary: this.config.upstreams.canary.version }),
      weightOwner: () => this.#weightOwner,
      keepPinnedOnRollback: () => this.config.routing.keepPinnedOnRollback,
    });
    // --- end rollout ---
    this.proxy = new ProxyServer({
      settings: proxySettings(opts.config),
      splitter: this.splitter,
      // the request path's stages (proxy/stages.ts); the fault engine joins below
      stages: [new ObservationStage(this.recorder, this.metrics), this.mirror, this.#accessLog],
      onEvent: (level, event, detail) => this.log[level]({ event, ...detail }, event.replace(/_/g, ' ')),
      onReject: (reason) => this.#rejected(reason),
    });
    // --- faults ---
    this.dependencies = new DependencyRelay({
      dependencies: opts.config.dependencies,
      registry: this.registry,
      log: this.log,
      clock: this.clock,
      expire: () => void this.faults.engine.activeFaults,
    });
    this.faults = createFaults({
      dependencies: this.dependencies,
      config: opts.config.faults,
      environment: opts.config.environment,
      registry: this.registry,
      clock: this.clock,
      log: this.log,
      events: this.events,
      store: this.state,
    });
    this.proxy.addStage(this.faults.engine);
    this.#adminPlugins = [...(this.#adminPlugins ?? []), faultRoutes(this.faults), dependencyRoutes(this.dependencies)];
    this.#adminPlugins.push(
      alertRoutes({ abortOn: () => this.config.rollout.abortOn, rolloutActive: () => this.rollout.active, rollback: (reason, alert) => this.rollout.rollbackOnAlert(reason, alert), log: this.log }),
    );
    this.drift.register(faultDriftSource(this.faults));
    // --- end faults ---
    this.events.subscribe((e) => this.#notifyWebhooks(e as unknown as Record<string, unknown>));
  }

  /** Register a per-request observer (analysis, faults' safety switch). Called after the record is updated. */
  onObservation(fn: (o: Observation, ex: Exchange | null) => void): void {
    this.proxy.addStage({ name: 'observer', observe: fn });
  }

  /**
   * Fault trips and drift reach `event` webhooks subscribed to the "faults" / "drift" topics (they used to
   * reach only the audit log). Runs on the bus, off the request path: notify() is fire-and-forget.
   */
  #notifyWebhooks(e: Record<string, unknown>): void {
    const v = { baseline: this.config.upstreams.baseline.version, canary: this.config.upstreams.canary.version };
    if (e.type === 'fault' && (e.action === 'killed' || e.action === 'auto-disabled')) {
      const halted = e.halted as { reason?: string } | undefined;
      const what = e.action === 'killed' ? 'fault kill switch: every fault off' : 'fault injection auto-disabled';
      this.rollout.webhooks.notify('event', { text: `canaryd: ${what}${halted?.reason ? ` — ${halted.reason}` : ''}`, action: e.action, halted, versions: v }, 'faults');
    } else if (e.type === 'drift' && (e.action === 'reverted' || (e.action === 'detected' && Array.isArray(e.items) && e.items.length > 0))) {
      const items = e.items as Array<{ path: string }>;
      const paths = items.map((i) => i.path);
      const what = e.action === 'reverted' ? `reverted ${paths.length} drift item(s) to the config file` : `runtime state differs from the config file in ${paths.length} place(s)`;
      this.rollout.webhooks.notify('event', { text: `canaryd: ${what}: ${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ', ...' : ''}`, action: e.action, items, versions: v }, 'drift');
    }
  }

  /** The file is the source of truth for the flags it declares (config/sections/flags.ts). */
  #syncFileFlags(c: Config): void {
    try {
      const r = this.flags.syncFromFile(c.flags);
      if (r.refused.length > 0) this.log.error({ event: 'flags_refused', keys: r.refused }, `flags ${r.refused.join(', ')} are archived: archived keys are not reused, rename them in the file`);
    } catch (e) {
      this.log.error({ err: e, event: 'flags_sync_failed' }, 'cannot apply the flags declared in the file');
    }
  }

  /** A limit turned a connection or request away: counted always, logged at most every REJECT_LOG_EVERY_MS per reason. */
  #rejected(reason: RejectReason): void {
    this.metrics.rejected.labels(reason).inc();
    const now = this.clock.now();
    const r = this.#rejects.get(reason) ?? { loggedAt: -Infinity, since: 0 };
    r.since++;
    this.#rejects.set(reason, r);
    if (now - r.loggedAt < REJECT_LOG_EVERY_MS) return;
    const c = this.config.limits;
    const limit = { max_connections: this.proxy.server.maxConnections, client_connections: c.perClient.connections, client_inflight: c.perClient.inflight, first_byte_timeout: this.config.timeouts.clientHeaders }[reason];
    this.log.warn({ event: 'limit_reached', reason, limit, count: r.since }, `limit reached: ${reason} (${limit}); ${r.since} turned away since the last such line`);
    r.loggedAt = now;
    r.since = 0;
  }

  #audit(type: string, reason: string, details: Record<string, unknown>): void {
    try {
      this.state.append('audit.jsonl', { at: this.clock.now(), type, reason, ...details });
    } catch (e) {
      this.log.error({ err: e }, 'cannot append to the audit log');
    }
  }

  #restoreWeights(): void {
    const saved = this.state.readJson<PersistedWeights>('weights.json');
    if (saved && saved.fileWeight === this.config.routing.canaryWeight && saved.canary !== this.config.routing.canaryWeight) {
      this.splitter.setWeights({ canary: saved.canary }, 'restored');
      this.#weightOwner = saved.owner ?? 'api';
      this.log.info({ event: 'weights_restored', canary: saved.canary, reason: saved.reason }, 'restored runtime canary weight from state.dir');
    }
  }

  /** Off the event loop and coalesced (a burst of weight changes is one or two writes); flushed on stop. */
  #persistWeights(reason: string): void {
    try {
      void this.state.writeJsonLater('weights.json', { canary: this.splitter.getWeights().canary, fileWeight: this.config.routing.canaryWeight, reason, at: this.clock.now(), owner: this.#weightOwner } satisfies PersistedWeights);
    } catch (e) {
      this.log.error({ err: e }, 'cannot persist weights');
    }
  }

  /** Sets the weight recording who set it (drift reverts only API-made weights). */
  #setWeightAs(owner: WeightOwner, canary: number, reason: string): void {
    this.#nextOwner = owner;
    try {
      this.splitter.setWeights({ canary }, reason);
    } finally {
      this.#nextOwner = null;
    }
  }

  get weightOwner(): WeightOwner {
    return this.#weightOwner;
  }

  adminDeps(): AdminDeps {
    return {
      token: () => this.adminToken.current(),
      authReads: () => this.config.admin.authReads,
      allowUnauthenticated: () => this.config.admin.allowUnauthenticated,
      hosts: () => ({ listen: this.config.admin.listen, allowed: this.config.admin.allowedHosts }),
      ready: () => this.proxyAddress !== null && !this.proxy.draining,
      metricsText: () => this.registry.metrics(),
      metricsContentType: this.registry.contentType,
      status: () => this.status(),
      setCanaryWeight: (w, reason) => this.#command('weight', { canary: w, reason }),
      weightOwner: () => this.#weightOwner,
      weightsLocked: () => (this.rollout.active ? `a rollout is ${this.rollout.machine.state.phase}: it owns the weight; use POST /api/v1/rollout/{promote,rollback}` : null),
      log: this.log,
      events: { bus: this.events, snapshot: () => this.snapshots.current() },
      flags: { service: this.flags, probe: this.splitter, sticky: () => this.config.routing.sticky },
      config: { file: () => this.configPath, reload: (source) => this.reload(source), drift: this.drift },
      rollout: {
        status: () => this.rollout.status(),
        start: (reason) => this.#command('start', { reason }),
        retry: () => this.#command('retry', {}),
        pause: (reason) => this.#command('pause', { reason }),
        resume: () => this.#command('resume', {}),
        promote: (o) => this.#command('promote', o),
        rollback: (reason) => this.#command('rollback', { reason }),
        pins: (suspended: boolean) => this.rollout.setPinsSuspended(suspended),
        plan: (given: { rate?: number; errorRate?: number; nonSuccessRate?: number }) => this.rollout.plan(given),
        analysis: () => this.rollout.latestReport(),
        decisions: (n) => this.rollout.audit.decisions(n),
        rollbacks: (n) => this.rollout.audit.rollbacks(n),
      },
      plugins: this.#adminPlugins,
      fleet: this.fleet ? { status: () => this.fleet!.status(), audit: (n) => this.fleet!.audit(n) } : undefined,
    };
  }

  /** Runs an operator command here, or (a fleet follower) on the leader, through Redis. */
  async #command(op: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const f = this.fleet;
    // A leader cut off from Redis still believes its lease for a moment; a rollback it applies then cannot be
    // written (fenced) and would be lost when the fleet's state is adopted on reconnect: queue it as well.
    if (f !== null && f.leading && !f.connected && op === 'rollback') return this.#rollbackLocally(f, args, 'Redis is unreachable');
    if (f === null || f.leading) return this.#execute(op, args);
    try {
      return (await f.send(op, args)) as Record<string, unknown>;
    } catch (e) {
      // Redis or the leader unreachable: a rollback is never refused; applied here now, fleet-wide later
      if (op !== 'rollback' || (e as CanarydError).code !== 'CANARYD_ERR_FLEET_UNAVAILABLE') throw e;
      return this.#rollbackLocally(f, args, (e as Error).message);
    }
  }

  #rollbackLocally(f: FleetCoordinator, args: Record<string, unknown>, why: string): Record<string, unknown> {
    const rolloutId = this.rollout.machine.state.id;
    const r = this.rollout.rollback(`${args.reason ?? 'rolled back'} (applied locally: ${why})`);
    // the rollout it was meant for: replayed later, it must never roll back a rollout started since
    f.queueForLeader('rollback', { ...args, rolloutId });
    this.log.warn({ event: 'fleet_local_rollback' }, 'fleet: rollback applied on this replica only; it is sent to the leader when Redis is back');
    return r;
  }

  async #execute(op: string, a: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reason = typeof a.reason === 'string' ? a.reason : undefined;
    switch (op) {
      case 'start':
        return this.rollout.start(reason ? `rollout started by an operator: ${reason}` : undefined);
      case 'retry':
        return this.rollout.retry();
      case 'pause':
        return this.rollout.pause(reason);
      case 'resume':
        return this.rollout.resume();
      case 'promote':
        return this.rollout.promote({ full: a.full === true, reason });
      case 'rollback':
        if (typeof a.rolloutId === 'number' && a.rolloutId !== this.rollout.machine.state.id) return this.rollout.status();
        return this.rollout.rollback(reason);
      case 'weight': {
        const locked = this.rollout.active ? `a rollout is ${this.rollout.machine.state.phase}: it owns the weight; use POST /api/v1/rollout/{promote,rollback}` : null;
        if (locked) throw new CanarydError('CANARYD_ERR_CONFLICT', locked);
        this.#setWeightAs('api', Number(a.canary), reason ?? 'admin api');
        return { canaryWeight: this.splitter.getWeights().canary };
      }
      default:
        throw new CanarydError('CANARYD_ERR_BAD_REQUEST', `unknown fleet command ${op}`);
    }
  }

  #buildFleet(c: NonNullable<Config['fleet']>): FleetCoordinator {
    const replica = c.replica || `${hostname()}-${process.pid}`;
    const remote = new RemoteEvidence(c.evidenceKeep);
    this.#fleetSource = new FleetMetricSource(this.recorder, remote, replica);
    const fleet = new FleetCoordinator(
      {
        connection: { url: c.redis || process.env.CANARYD_REDIS_URL || '', username: c.username, password: c.password, tls: c.tls },
        service: c.service,
        keyPrefix: c.keyPrefix,
        replica,
        leaseTtlMs: c.leaseTtl,
        heartbeatMs: c.heartbeat,
        evidenceKeepMs: c.evidenceKeep,
        commandTimeoutMs: c.commandTimeout,
      },
      {
        windowMs: this.recorder.windowMs,
        localWindows: (v, from, to) => this.recorder.windows(v, from, to),
        heartbeat: () => ({ pid: process.pid, proxy: this.proxyAddress, admin: this.adminAddress, canaryWeight: this.splitter.getWeights().canary, phase: this.rollout.machine.state.phase, step: this.rollout.machine.state.step }),
        adopt: (docs, seq) => this.#adoptFleetState(docs, seq),
        leadership: (leading) => {
          this.#fleetSource!.merged = leading;
          if (leading && this.config.rollout.autoStart && this.rollout.machine.state.id === 0) {
            this.rollout.start('rollout started automatically (rollout.autoStart)').catch((e: unknown) => this.log.warn({ event: 'autostart_held', err: (e as Error).message }, 'automatic rollout start held'));
          }
        },
        execute: (cmd: FleetCommand) => this.#execute(cmd.op, cmd.args),
        log: this.log,
      },
      remote,
    );
    // every durable write is offered to the fleet; only the leader's are sent (fenced)
    this.state.observer = (kind, name, value) => fleet.record(kind, name, value);
    const registers = [this.registry];
    new Gauge({ name: 'canaryd_fleet_leader', help: '1 while this replica holds the fleet lease (fleet mode)', registers, collect() { this.set(fleet.leading ? 1 : 0); } });
    new Gauge({ name: 'canaryd_fleet_redis_up', help: '1 while this replica reaches Redis (fleet mode)', registers, collect() { this.set(fleet.connected ? 1 : 0); } });
    new Gauge({
      name: 'canaryd_fleet_replicas',
      help: 'replicas whose last heartbeat is younger than 3 heartbeats, as this replica last read them (fleet mode)',
      registers,
      collect() {
        const rs = fleet.status().replicas as Array<{ ageMs: number }>;
        this.set(rs.filter((r) => r.ageMs < 3 * c.heartbeat).length);
      },
    });
    return fleet;
  }

  /** The fleet's state becomes this replica's: its local copy, its machine, its weight. */
  #adoptFleetState(docs: Record<string, unknown>, seq: number): void {
    const rollout = docs[ROLLOUT_FILE] as RolloutState | undefined;
    const weights = docs['weights.json'] as PersistedWeights | undefined;
    for (const [name, doc] of Object.entries(docs)) {
      try {
        this.state.writeJson(name, doc);
      } catch (e) {
        this.log.error({ err: e, name }, 'fleet: cannot keep the local copy of a fleet document');
      }
    }
    if (rollout) this.rollout.adopt(rollout);
    if (weights && weights.canary !== this.splitter.getWeights().canary) this.#setWeightAs(weights.owner ?? 'rollout', weights.canary, `fleet (seq ${seq}): ${weights.reason}`);
    this.log.debug({ event: 'fleet_adopted', seq, docs: Object.keys(docs) }, 'fleet state adopted');
  }

  status(): Record<string, unknown> {
    const c = this.config;
    const w = this.splitter.getWeights().canary;
    return {
      versions: {
        baseline: { url: c.upstreams.baseline.url, version: c.upstreams.baseline.version, weight: 100 - w, requests: this.recorder.totals('baseline') },
        canary: { url: c.upstreams.canary.url, version: c.upstreams.canary.version, weight: w, requests: this.recorder.totals('canary') },
      },
      weights: { baseline: 100 - w, canary: w, owner: this.#weightOwner },
      uptimeSeconds: Math.round((this.clock.now() - this.startedAt) / 1000),
      inflight: this.proxy.inflight,
      proxy: this.proxyAddress,
      rollout: this.rollout.status(),
      ...(this.fleet ? { fleet: this.fleet.status() } : {}),
    };
  }

  async start(): Promise<void> {
    if (this.#raiseFdLimit) {
      const fd = raiseFdLimit();
      const line = { event: 'fd_limit', result: fd.result, before: fd.before, after: fd.after, error: fd.error };
      if (fd.result === 'raised' || fd.result === 'at_hard_limit') this.log.info(line, `open-file limit: soft ${fd.after?.soft}, hard ${fd.after?.hard} (${fd.result})`);
      else this.log.warn(line, `could not raise the open-file limit (${fd.result}): soft ${fd.before?.soft ?? '?'}, hard ${fd.before?.hard ?? '?'}`);
      this.proxy.configure(proxySettings(this.config)); // limits.maxConnections "auto" follows the new limit
    }
    this.log.info({ event: 'connection_limits', maxConnections: this.proxy.server.maxConnections, adminConnections: this.config.limits.adminConnections }, 'connection limits');
    const p = splitHostPort(listenSettings(this.config.listen).address);
    // The admin is built and its route schemas compiled (ready) before the proxy accepts: that work blocks
    // the event loop for a few hundred ms, and requests taken during it would wait behind it.
    // fleet mode: the fleet's state is taken before the first request is served
    await this.fleet?.start();
    this.admin = await buildAdmin(this.adminDeps());
    await this.admin.ready();
    await this.dependencies.start();
    this.proxyAddress = await this.proxy.listen(p.host, p.port);
    const a = splitHostPort(this.config.admin.listen);
    this.admin.server.maxConnections = this.config.limits.adminConnections; // its own budget (limits.adminConnections)
    await this.admin.listen({ host: a.host, port: a.port });
    const addr = this.admin.server.address();
    this.adminAddress = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host: a.host, port: a.port };
    if (this.config.metrics.listen !== undefined) {
      const m = splitHostPort(this.config.metrics.listen);
      this.#metricsListener = new MetricsListener(() => this.registry.metrics(), this.registry.contentType);
      this.metricsAddress = await this.#metricsListener.listen(m.host, m.port);
    }
    this.snapshots.start(); // admin
    this.drift.start(); // admin
    if (this.fleet === null) this.rollout.run(); // rollout
    else this.#startFleetTicker();
    this.finops.start();
    this.#started = true;
    this.log.info({ event: 'started', proxy: this.proxyAddress, admin: this.adminAddress, canaryWeight: this.splitter.getWeights().canary, ...(this.metricsAddress ? { metrics: this.metricsAddress } : {}) }, 'canaryd started');
  }

  /** Fleet mode: the controller judges only while this replica holds the lease (checked on every tick). */
  #startFleetTicker(): void {
    const loop = () => {
      if (this.fleet?.leading) {
        try {
          this.rollout.tick();
        } catch (e) {
          this.log.error({ err: e }, 'rollout tick failed');
        }
      }
      this.#fleetTicker = setTimeout(loop, this.config.rollout.analysisInterval);
    };
    this.#fleetTicker = setTimeout(loop, this.config.rollout.analysisInterval);
  }

  /** Re-reads the config file. Valid: applied without dropping in-flight requests. Invalid: logged, old config kept. */
  reload(source = 'manual'): { ok: true } | { ok: false; error: CanarydError } {
    if (!this.configPath) return { ok: false, error: new CanarydError('CANARYD_ERR_CONFIG_READ', 'no config file to reload') };
    let next: Config;
    try {
      this.#configText = readConfigText(resolve(this.configPath));
      next = loadConfigFile(this.configPath);
    } catch (e) {
      const err = e instanceof CanarydError ? e : new CanarydError('CANARYD_ERR_CONFIG_READ', String(e));
      this.log.error({ event: 'config_rejected', source, code: err.code, problems: err.details }, `config reload rejected, keeping the running config: ${err.message}`);
      this.events.publish({ type: 'config', action: 'rejected', source, error: err.code, message: err.message, problems: err.details ?? [] }); // admin
      return { ok: false, error: err };
    }
    this.applyConfig(next, source);
    return { ok: true };
  }

  applyConfig(next: Config, source: string): void {
    const prev = this.config;
    this.config = next;
    const fileWeightChanged = next.routing.canaryWeight !== prev.routing.canaryWeight;
    // a running rollout owns the weight: a changed file weight waits until the rollout ends
    if (fileWeightChanged && this.rollout.active) this.log.warn({ event: 'config_weight_ignored', canaryWeight: next.routing.canaryWeight }, 'routing.canaryWeight changed in the file but a rollout owns the weight; not applied');
    this.splitter.configure(next.routing, { applyWeight: fileWeightChanged && !this.rollout.active });
    this.rollout.configure(next.rollout);
    this.metricChecks.configure(next);
    if (this.#started) this.finops.start();
    this.info.setReleases({ baseline: next.upstreams.baseline.version, canary: next.upstreams.canary.version });
    this.proxy.configure(proxySettings(next));
    this.mirror.percent = next.routing.mirror.percent;
    this.mirror.maxBodyBytes = next.routing.mirror.maxBodyBytes;
    void this.dependencies.configure(next.dependencies).catch((err) => this.log.error({ err }, 'dependency reconfigure failed'));
    this.faults.engine.configure(next.faults, next.environment); // faults
    this.#syncFileFlags(next); // flags declared in the file
    this.log.level = next.log.level;
    try {
      this.adminToken.configure(next.admin);
    } catch (e) {
      this.log.error({ event: 'admin_token_rejected', err: (e as Error).message }, 'admin token settings not applied; keeping the previous token');
    }
    this.#accessLog.sampleRate = next.log.accessLogSampleRate;
    const restart = (['listen', 'admin', 'state', 'metrics'] as const).filter((k) => JSON.stringify(prev[k]) !== JSON.stringify(next[k]) && !(k === 'admin' && prev.admin.listen === next.admin.listen));
    if (restart.length > 0) this.log.warn({ event: 'config_restart_needed', keys: restart }, `changes to ${restart.join(', ')} apply on restart`);
    this.log.info({ event: 'config_applied', source }, 'config applied');
    this.events.publish({ type: 'config', action: 'applied', source, restartNeeded: restart }); // admin
    if (this.#started) this.drift.start(); // admin: the reconcile interval may have changed
  }

  /**
   * Watches the config file's directory for any change and reloads when the file's content differs from
   * the last read. Every event counts, whatever its name: Kubernetes updates a mounted ConfigMap by swapping
   * the `..data` symlink (events name `..data`, `..data_tmp`, never the file), editors rename-replace.
   */
  watchConfig(): void {
    if (!this.configPath) return;
    const file = resolve(this.configPath);
    this.#configText ??= readConfigText(file);
    this.#watcher = watch(dirname(file), () => {
      if (this.#reloadTimer) clearTimeout(this.#reloadTimer);
      this.#reloadTimer = setTimeout(() => {
        const text = readConfigText(file);
        if (text === undefined || text === this.#configText) {
          this.log.debug({ event: 'config_watch', changed: false }, 'config directory changed, file content did not');
          return;
        }
        this.reload('file-change');
      }, 150);
    });
  }

  /** Drains and stops. `settleMs` (default shutdown.settle) is how long the listener keeps accepting first. */
  async stop(drainMs = this.config.shutdown.drainTimeout, settleMs = this.config.shutdown.settle): Promise<{ cut: number }> {
    this.#watcher?.close();
    if (this.#reloadTimer) clearTimeout(this.#reloadTimer);
    this.#started = false; // admin
    this.snapshots.stop(); // admin
    this.drift.stop(); // admin
    await this.rollout.stop(); // rollout
    this.finops.stop();
    if (this.#fleetTicker) clearTimeout(this.#fleetTicker);
    await this.fleet?.stop();
    await this.metricChecks.checks.close();
    this.faults.experiments.shutdown(); // faults: a running experiment ends as interrupted
    this.faults.engine.stop(); // faults: lift in-flight faults so a hang cannot hold up the drain
    this.log.info({ event: 'draining', inflight: this.proxy.inflight, deadlineMs: drainMs }, 'draining');
    const cut = await this.proxy.drain(drainMs, settleMs);
    await this.dependencies.stop(); // after the drain: in-flight requests may still need their dependencies
    await this.admin?.close();
    this.adminToken.stop();
    await this.state.flush();
    this.stateLock.release();
    await this.#metricsListener?.close();
    this.log.info({ event: 'stopped', cut }, 'canaryd stopped');
    return { cut };
  }
}
