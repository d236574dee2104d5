/**
 * The composition root: builds the proxy, metrics, state and admin from a Config, wires them together, owns
 * the timers and lifecycles (reload, drain). proxy/ and analysis/ meet only here. The CLI and the tests are
 * thin shells over Sidecar.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { basename, dirname, resolve } from 'node:path';
import { pino, destination, type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { CanarydError, grpcCodeMask, systemClock, type Clock, type Observation } from './core/index.js';
import {
  isProduction,
  listenSettings,
  loadConfigFile,
  serverTlsSettings,
  splitHostPort,
  workerCount,
  type Config,
} from './config/index.js';
import {
  AccessLogStage,
  CertificateWatcher,
  serverTlsOptions,
  DependencyRelay,
  Mirror,
  ObservationStage,
  ProxyMetrics,
  ProxyServer,
  raiseFdLimit,
  TrafficSplitter,
  UpstreamHealthMetrics,
  WindowedRecorder,
  type Exchange,
  type Halt,
  type OutlierChange,
  type RejectReason,
  type RuleSpec,
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
} from './admin/index.js';
import { createFaults, type FaultService } from './chaos/index.js';
import { AuditTrail, StateDirLock, StateStore } from './state/index.js';
import { TrafficState, type PersistedWeights } from './traffic/index.js';
import { AnomalyMonitor, judge as defaultJudge, type Judge } from './analysis/index.js';
import {
  busEventsToWebhooks,
  FinopsCosts,
  OperatorCommands,
  prometheusChecksFor,
  RolloutController,
  RolloutMetrics,
  ROLLOUT_FILE,
  type AnomalyFeed,
  type RolloutConfig,
} from './controller/index.js';
import type { RolloutState } from './analysis/index.js';
import type { StatusView } from './contract/index.js';
import { Tracing } from './tracing/index.js';
import { FleetCoordinator, FleetMetricSource, registerFleetGauges, RemoteEvidence, type FleetCommand } from './fleet/index.js';
import { availableParallelism, hostname } from 'node:os';
import { mergedMetricsText, registerWorkerMetrics, WorkerPool, type TrafficPush } from './workers/index.js';
import { proxySettings } from './worker.js';

export { proxySettings } from './worker.js';

/**
 * A feature as the root drives it: `configure` with every applied config, `start` once the listeners are up,
 * `stop` before the proxy drains. The root loops over its features; it lists no component by hand.
 */
interface Feature {
  name: string;
  configure?(next: Config): unknown;
  start?(): unknown;
  stop?(): unknown;
}

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
/** How long a traffic change (and an operator command that makes one) waits for every worker's ack. */
const WORKER_ACK_TIMEOUT_MS = 2_000;
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
  /** outlier ejection and circuit-breaker metrics (proxy/outlier) */
  readonly #health: UpstreamHealthMetrics;
  /** the traffic state: weight and its owner, runtime routes, mirror, pins (traffic/) */
  readonly traffic: TrafficState<RuleSpec, Config['routing']>;
  /** the one audit writer (state.dir/audit.jsonl) */
  readonly audit: AuditTrail;
  readonly #splitter: TrafficSplitter;
  readonly proxy: ProxyServer;
  readonly mirror: Mirror;
  readonly state: StateStore;
  readonly #stateLock: StateDirLock;
  readonly #startedAt: number;
  admin: FastifyInstance | null = null;
  proxyAddress: { host: string; port: number } | null = null;
  adminAddress: { host: string; port: number } | null = null;
  /** the metrics listener (metrics.listen): /metrics without the admin token */
  metricsAddress: { host: string; port: number } | null = null;
  readonly #info: InfoMetrics;
  #metricsListener: MetricsListener | null = null;
  /** admin.tls and metrics.tls: their certificates are re-read when the files change */
  #certWatchers: CertificateWatcher[] = [];
  /** publish here: `sidecar.events.publish({ type: 'decision', ... })`; see docs/admin.md for the event types */
  readonly events: EventBus;
  readonly flags: FlagService;
  readonly #snapshots: SnapshotPublisher;
  readonly #drift: DriftReconciler;
  /** admin.token or the live content of admin.tokenFile */
  readonly #adminToken: AdminToken;
  #started = false;
  readonly rollout: RolloutController;
  /** Prometheus-backed checks (rollout.metrics, docs/prometheus.md), polled by the rollout controller */
  readonly #metricChecks: ReturnType<typeof prometheusChecksFor>;
  /** FinOps: cost per version from Prometheus (finops:), its gauges and the compare.costPerRequest check */
  readonly finops: FinopsCosts;
  /** fault injection: rules, kill switch, experiments (docs/faults.md) */
  readonly faults: FaultService;
  /** the app's TCP dependencies relayed through canaryd, where the TCP fault kinds act (docs/faults.md "Dependencies") */
  readonly dependencies: DependencyRelay;
  /** OpenTelemetry spans (docs/observability.md "Tracing"): a stage in the chain while `tracing` is set */
  readonly tracing: Tracing;
  #traceFailureLoggedAt = -Infinity;
  /** fleet mode (docs/fleet.md): null in the embedded single-process mode */
  readonly fleet: FleetCoordinator | null = null;
  #fleetSource: FleetMetricSource | null = null;
  /** workers: N > 1 (docs/fleet.md "Workers"): the data-plane processes; null: this process serves the proxy itself */
  readonly workers: WorkerPool | null = null;
  #workersDraining = false;
  #pruneTimer: NodeJS.Timeout | null = null;
  #fleetTicker: NodeJS.Timeout | null = null;
  #watcher: FSWatcher | null = null;
  /** the config file's content at the last (re)load: the watcher reloads only when it differs */
  #configText: string | undefined;
  #reloadTimer: NodeJS.Timeout | null = null;
  #accessLog: AccessLogStage;
  #adminPlugins: AdminDeps['plugins'];
  #raiseFdLimit: boolean;
  /** operator commands, run here or on the fleet leader (controller/commands.ts) */
  readonly #commands: OperatorCommands;
  readonly #features: Feature[];
  readonly #rejects = new Map<RejectReason, { loggedAt: number; since: number }>();

  constructor(opts: SidecarOptions) {
    this.config = opts.config;
    this.configPath = opts.configPath;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? pino({ level: opts.config.log.level, base: { service: 'canaryd' } }, asyncStdout());
    this.#adminPlugins = opts.adminPlugins;
    this.#raiseFdLimit = opts.raiseFdLimit ?? false;
    this.#startedAt = this.clock.now();
    this.#accessLog = new AccessLogStage({ log: this.log, sampleRate: opts.config.log.accessLogSampleRate });
    collectDefaultMetrics({ register: this.registry });
    this.#adminToken = new AdminToken(opts.config.admin, this.log);
    this.state = new StateStore(opts.config.state.dir, {
      log: opts.config.state.audit,
      onWriteError: (name, err) => this.log.error({ err, file: name }, `cannot write ${name} under state.dir`),
    });
    // one live canaryd per state.dir (state/lock.ts): taken before any state is read
    this.#stateLock = new StateDirLock(opts.config.state.dir);
    const lock = this.#stateLock.acquire(this.clock.now());
    if (lock.tookOverFrom)
      this.log.warn(
        { event: 'state_lock_taken_over', previous: lock.tookOverFrom },
        `took over the stale state.dir lock of pid ${lock.tookOverFrom.pid}`,
      );
    if (this.state.cleaned.length > 0)
      this.log.warn({ event: 'state_tmp_cleaned', files: this.state.cleaned }, 'removed temp files left by an interrupted write');
    this.recorder = new WindowedRecorder({ now: () => this.clock.now() });
    this.recorder.grpcErrorMask = grpcCodeMask(opts.config.grpc.errorCodes);
    this.metrics = new ProxyMetrics(this.registry);
    const nWorkers = workerCount(opts.config.workers, availableParallelism);
    if (nWorkers > 1) this.workers = this.#buildWorkers(nWorkers);
    this.#health = new UpstreamHealthMetrics(this.registry, () => this.proxy.outlier);
    this.#info = new InfoMetrics(
      this.registry,
      { version: CANARYD_VERSION },
      {
        ready: () => this.#notReady() === null,
        production: () => isProduction(this.config.environment, process.env),
        faultsAutoDisabled: () => this.faults.engine.halted?.kind === 'auto-disable',
        stepStartedAt: () => (this.rollout.active ? this.rollout.machine.state.stepStartedAt : null),
        maxStepDurationMs: () => this.config.rollout.maxStepDuration,
      },
    );
    this.#info.setReleases({ baseline: opts.config.upstreams.baseline.version, canary: opts.config.upstreams.canary.version });
    this.#splitter = new TrafficSplitter(opts.config.routing);
    this.events = new EventBus({
      now: () => this.clock.now(),
      onError: (err, e) => this.log.error({ err, eventType: e.type }, 'event subscriber failed'),
    });
    this.audit = new AuditTrail(this.state, () => this.clock.now(), this.log);
    this.mirror = new Mirror({
      percent: opts.config.routing.mirror.percent,
      maxBodyBytes: opts.config.routing.mirror.maxBodyBytes,
      target: () => this.proxy.upstream('canary'),
      count: (outcome) => this.metrics.mirrored.labels(outcome).inc(),
      ejected: () => this.proxy.outlier.ejected('canary'),
    });
    this.traffic = new TrafficState<RuleSpec, Config['routing']>({
      routing: opts.config.routing,
      router: this.#splitter,
      mirror: this.mirror,
      store: this.state,
      audit: this.audit,
      events: this.events,
      log: this.log,
      clock: this.clock,
      gauge: (canary) => this.metrics.setTrafficPercent(canary),
      rolloutPhase: () => (this.rollout?.active ? this.rollout.machine.state.phase : null),
    });
    this.flags = new FlagService({
      store: this.state,
      apply: (rules) => this.traffic.setHeaderRoute(rules),
      now: () => this.clock.now(),
      onChange: (action, flag) => {
        this.log.info({ event: 'flag', action, key: flag.key, enabled: flag.enabled }, `flag ${flag.key} ${action}`);
        this.events.publish({ type: 'flag', action, flag });
      },
    });
    this.#syncFileFlags(opts.config);
    this.#snapshots = new SnapshotPublisher({
      source: this.#evidence,
      canaryWeight: () => this.traffic.weight().canary,
      sink: this.events,
      now: () => this.clock.now(),
    });
    this.#drift = new DriftReconciler({
      configPath: () => this.configPath,
      load: (p) => loadConfigFile(p),
      settings: () => this.config.admin.reconcile,
      sink: this.events,
      log: this.log,
      now: () => this.clock.now(),
      sources: [
        configDriftSource({ running: () => this.config, apply: (c) => this.applyConfig(c, 'reconcile') }),
        weightDriftSource(this.traffic),
        flagDriftSource(this.flags),
      ],
    });
    if (opts.config.fleet) this.fleet = this.#buildFleet(opts.config.fleet);
    this.#metricChecks = prometheusChecksFor(() => this.config, { clock: this.clock, registry: this.registry, log: this.log });
    this.finops = new FinopsCosts({
      config: () => this.config,
      client: () => this.#metricChecks.checks.client,
      clock: this.clock,
      registry: this.registry,
    });
    const prometheusFeed = {
      poll: (now: number, from: number) => [...this.#metricChecks.checks.poll(now, from), ...this.finops.checks(now, from)],
      reset: () => this.#metricChecks.checks.reset(),
    };
    this.rollout = new RolloutController({
      config: opts.config.rollout,
      judge: opts.judge ?? defaultJudge,
      anomaly: opts.anomaly === undefined ? defaultAnomalyMonitor : opts.anomaly,
      metricChecks: prometheusFeed,
      source: this.#fleetSource ?? this.#evidence,
      traffic: this.traffic,
      store: this.state,
      metrics: new RolloutMetrics(this.registry),
      events: this.events,
      log: this.log,
      clock: this.clock,
      versions: () => this.#versions(),
      keepPinnedOnRollback: () => this.config.routing.keepPinnedOnRollback,
    });
    this.proxy = new ProxyServer({
      settings: proxySettings(opts.config),
      splitter: this.#splitter,
      // the request path's stages (proxy/stages.ts); the fault engine joins below
      stages: [new ObservationStage(this.recorder, this.metrics), this.mirror, this.#accessLog],
      onEvent: (level, event, detail) => this.log[level]({ event, ...detail }, event.replace(/_/g, ' ')),
      onReject: (reason) => this.#rejected(reason),
      // called on the request path: the log, audit, event and rollback run after it
      onOutlier: (change) => setImmediate(() => this.#outlierChanged(change)),
      onOverflow: (version) => this.#health.overflow.labels(version).inc(),
    });
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
    this.tracing = new Tracing({
      registry: this.registry,
      serviceVersion: CANARYD_VERSION,
      onExportFailure: (reason, detail) => this.#traceExportFailed(reason, detail),
    });
    this.tracing.configure(opts.config);
    this.proxy.addStage(this.tracing.stage);
    this.#adminPlugins = [...(this.#adminPlugins ?? []), faultRoutes(this.faults), dependencyRoutes(this.dependencies)];
    this.#adminPlugins.push(
      alertRoutes({
        abortOn: () => this.config.rollout.abortOn,
        rolloutActive: () => this.rollout.active,
        rollback: (reason, alert) => this.rollout.rollbackOnAlert(reason, alert),
        log: this.log,
      }),
    );
    this.#drift.register(faultDriftSource(this.faults));
    this.events.subscribe(
      busEventsToWebhooks(
        () => this.rollout.webhooks,
        () => this.#versions(),
      ),
    );
    this.#commands = new OperatorCommands({ rollout: this.rollout, traffic: this.traffic, fleet: this.fleet, log: this.log });
    this.#features = this.#wireFeatures();
    if (this.workers) {
      // every traffic change and every fault change goes to every worker (docs/fleet.md "Workers")
      this.traffic.onChange(() => this.#pushTraffic());
      this.events.subscribe((e) => e.type === 'fault' && this.#pushTraffic());
    }
  }

  /** The windows the controller and the live snapshots read: this process' recorder, or the workers' merged. */
  get #evidence() {
    return this.workers?.source ?? this.recorder;
  }

  #buildWorkers(count: number): WorkerPool {
    let lost: (worker: number, reason: string) => void = () => undefined;
    const pool = new WorkerPool({
      count,
      exec: fileURLToPath(new URL('./worker.js', import.meta.url)),
      log: this.log,
      config: () => this.config,
      traffic: () => this.#trafficPush(),
      keepMs: this.recorder.size * this.recorder.windowMs,
      windowMs: this.recorder.windowMs,
      ackTimeoutMs: WORKER_ACK_TIMEOUT_MS,
      onLost: (worker, reason) => lost(worker, reason),
      onNotice: (worker, kind, detail) => {
        if (kind === 'outlier') this.#outlierChanged(detail as OutlierChange);
        else if (kind === 'faults-halted') this.faults.engine.adoptHalt(detail as Halt, `auto-disable on worker ${worker}`);
      },
      now: () => this.clock.now(),
    });
    lost = registerWorkerMetrics(this.registry, () => pool.views()).lost;
    return pool;
  }

  #trafficPush(): TrafficPush {
    const t = this.traffic.snapshot();
    return {
      canary: t.canary,
      routes: [...this.traffic.routes()],
      pinsSuspended: t.pinsSuspended,
      mirror: t.mirror,
      faults: this.faults.engine.mirror(),
    };
  }

  /** Sends the traffic state to every worker; the acks (or the bound) are logged as workers_synced. */
  #pushTraffic(): void {
    const pool = this.workers!;
    const push = this.#trafficPush();
    const seq = pool.push(push);
    const t0 = performance.now();
    void pool
      .synced()
      .then(({ missing }) =>
        this.log.info(
          { event: 'workers_synced', seq, canaryWeight: push.canary, missing, ms: Math.round(performance.now() - t0) },
          missing.length === 0
            ? `traffic change ${seq} applied on every worker`
            : `traffic change ${seq} not acked by ${missing.join(', ')}`,
        ),
      );
  }

  /** An operator command that changes traffic answers once every worker applied it (or the ack bound passed). */
  async #synced<T>(p: Promise<T>): Promise<T> {
    const r = await p;
    await this.workers?.synced();
    return r;
  }

  /** /metrics: this process' registry, merged with every worker's when there are workers (workers/metrics.ts). */
  async #metricsText(): Promise<string> {
    if (!this.workers) return this.registry.metrics();
    return mergedMetricsText(this.registry, await this.workers.metrics());
  }

  /**
   * The features in the order the root drives them: each is reconfigured from a newly applied config, started
   * once the listeners are up, and stopped (in this order) before the proxy drains. The traffic state comes
   * first: what the rest configures may depend on where traffic goes.
   */
  #wireFeatures(): Feature[] {
    return [
      { name: 'snapshots', start: () => this.#snapshots.start(), stop: () => this.#snapshots.stop() },
      // the reconcile interval may have changed: drift restarts its timer on a new config once started
      {
        name: 'drift',
        configure: () => this.#started && this.#drift.start(),
        start: () => this.#drift.start(),
        stop: () => this.#drift.stop(),
      },
      { name: 'traffic', configure: (c) => this.traffic.configure(c.routing) },
      // the workers' proxy settings, routing rules, log and fault settings follow the primary's config
      { name: 'workers', configure: (c) => this.workers?.configure(c) },
      {
        name: 'rollout',
        configure: (c) => this.rollout.configure(c.rollout),
        start: () => (this.fleet === null ? this.rollout.run() : this.#startFleetTicker()),
        stop: async () => {
          await this.rollout.stop();
          if (this.#fleetTicker) clearTimeout(this.#fleetTicker);
        },
      },
      {
        // Prometheus-backed checks, then the FinOps costs that query through the checks' client
        name: 'prometheus',
        configure: (c) => {
          this.#metricChecks.configure(c);
          if (this.#started) this.finops.start();
        },
        start: () => this.finops.start(),
        stop: async () => {
          this.finops.stop();
          await this.#metricChecks.checks.close();
        },
      },
      { name: 'fleet', stop: () => this.fleet?.stop() },
      {
        name: 'releases',
        configure: (c) => this.#info.setReleases({ baseline: c.upstreams.baseline.version, canary: c.upstreams.canary.version }),
      },
      { name: 'proxy', configure: (c) => this.proxy.configure(proxySettings(c)) },
      { name: 'grpc', configure: (c) => (this.recorder.grpcErrorMask = grpcCodeMask(c.grpc.errorCodes)) },
      {
        name: 'dependencies',
        configure: (c) =>
          void this.dependencies.configure(c.dependencies).catch((err) => this.log.error({ err }, 'dependency reconfigure failed')),
      },
      {
        name: 'faults',
        configure: (c) => this.faults.engine.configure(c.faults, c.environment),
        stop: () => {
          this.faults.experiments.shutdown(); // a running experiment ends as interrupted
          this.faults.engine.stop(); // lift in-flight faults so a hang cannot hold up the drain
        },
      },
      { name: 'flags', configure: (c) => this.#syncFileFlags(c) },
      { name: 'tracing', configure: (c) => this.tracing.configure(c) },
      { name: 'log', configure: (c) => this.#configureLog(c) },
      { name: 'admin token', configure: (c) => this.#configureToken(c) },
    ];
  }

  #configureLog(c: Config): void {
    this.log.level = c.log.level;
    this.#accessLog.sampleRate = c.log.accessLogSampleRate;
  }

  /** A failed span export: counted always (canaryd_tracing_export_failures_total), logged at most every REJECT_LOG_EVERY_MS. */
  #traceExportFailed(reason: string, detail: string): void {
    const now = this.clock.now();
    if (now - this.#traceFailureLoggedAt < REJECT_LOG_EVERY_MS) return;
    this.#traceFailureLoggedAt = now;
    this.log.warn({ event: 'tracing_export_failed', reason, detail }, `span export failed (${reason}): ${detail}; its spans are dropped`);
  }

  #configureToken(c: Config): void {
    try {
      this.#adminToken.configure(c.admin);
    } catch (e) {
      this.log.error(
        { event: 'admin_token_rejected', err: (e as Error).message },
        'admin token settings not applied; keeping the previous token',
      );
    }
  }

  /** Register a per-request observer (analysis, faults' safety switch). Called after the record is updated. */
  onObservation(fn: (o: Observation, ex: Exchange | null) => void): void {
    this.proxy.addStage({ name: 'observer', observe: fn });
  }

  /** The file is the source of truth for the flags it declares (config/sections/flags.ts). */
  #syncFileFlags(c: Config): void {
    try {
      const r = this.flags.syncFromFile(c.flags);
      if (r.refused.length > 0)
        this.log.error(
          { event: 'flags_refused', keys: r.refused },
          `flags ${r.refused.join(', ')} are archived: archived keys are not reused, rename them in the file`,
        );
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
    const limit = {
      max_connections: this.proxy.server.maxConnections,
      client_connections: c.perClient.connections,
      client_inflight: c.perClient.inflight,
      first_byte_timeout: this.config.timeouts.clientHeaders,
    }[reason];
    this.log.warn(
      { event: 'limit_reached', reason, limit, count: r.since },
      `limit reached: ${reason} (${limit}); ${r.since} turned away since the last such line`,
    );
    r.loggedAt = now;
    r.since = 0;
  }

  /** Why /readyz fails, or null when ready: not listening yet, draining, or the baseline upstream ejected. */
  #notReady(): string | null {
    if (this.proxyAddress === null) return 'not listening yet';
    if (this.workers ? this.#workersDraining : this.proxy.draining) return 'draining';
    if (this.proxy.outlier.ejected('baseline')) {
      const v = this.proxy.outlier.view('baseline');
      return `baseline upstream ejected until ${new Date(v.ejectedUntil ?? 0).toISOString()}: ${v.lastReason ?? ''}`;
    }
    return null;
  }

  /**
   * One place for an upstream's ejection, probe and re-admission: the log line, the audit line, the event,
   * the counter, and — an ejected canary during a rollout — the rollback (outlier.rollbackOnEjection).
   */
  #outlierChanged(c: OutlierChange): void {
    const detail = { version: c.version, reason: c.reason, kind: c.kind, until: c.until, ejections: c.ejections };
    const text =
      c.action === 'ejected'
        ? `${c.version} upstream ejected for ${Math.round((c.durationMs ?? 0) / 1000)} s: ${c.reason}`
        : c.action === 'probing'
          ? `${c.version} upstream probing: ${c.reason}`
          : `${c.version} upstream re-admitted: ${c.reason}`;
    if (c.action === 'ejected') {
      this.#health.ejected(c.version, c.kind!);
      this.log.warn({ event: 'upstream_ejected', ...detail, durationMs: c.durationMs }, text);
    } else this.log.info({ event: `upstream_${c.action}`, ...detail }, text);
    if (c.action !== 'probing') this.audit.record(`upstream-${c.action}`, text, detail);
    this.events.publish({ type: 'upstream', action: c.action, ...detail });
    const leading = this.fleet === null || this.fleet.leading;
    if (c.action === 'ejected' && c.version === 'canary' && this.config.outlier.rollbackOnEjection && leading && this.rollout.active) {
      try {
        this.rollout.rollbackOnEjection(c.reason, detail);
      } catch (e) {
        this.log.error({ err: e }, 'rollback on ejection failed');
      }
    }
  }

  adminDeps(): AdminDeps {
    return {
      token: () => this.#adminToken.current(),
      authReads: () => this.config.admin.authReads,
      allowUnauthenticated: () => this.config.admin.allowUnauthenticated,
      hosts: () => ({ listen: this.config.admin.listen, allowed: this.config.admin.allowedHosts }),
      ready: () => this.#notReady() === null,
      notReadyReason: () => this.#notReady(),
      metricsText: () => this.#metricsText(),
      metricsContentType: this.registry.contentType,
      status: () => this.status(),
      setCanaryWeight: (w, reason) => this.#synced(this.#commands.run('weight', { canary: w, reason })),
      weightOwner: () => this.traffic.weight().owner,
      weightsLocked: () => this.traffic.lockedReason(),
      log: this.log,
      events: { bus: this.events, snapshot: () => this.#snapshots.current(), history: (seconds) => this.#snapshots.recent(seconds) },
      flags: { service: this.flags, probe: this.#splitter, sticky: () => this.config.routing.sticky },
      config: { file: () => this.configPath, reload: (source) => this.reload(source), drift: this.#drift },
      rollout: {
        status: () => this.rollout.status(),
        start: (reason) => this.#synced(this.#commands.run('start', { reason })),
        retry: () => this.#synced(this.#commands.run('retry', {})),
        pause: (reason) => this.#commands.run('pause', { reason }),
        resume: () => this.#commands.run('resume', {}),
        promote: (o) => this.#synced(this.#commands.run('promote', o)),
        rollback: (reason) => this.#synced(this.#commands.run('rollback', { reason })),
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

  #buildFleet(c: NonNullable<Config['fleet']>): FleetCoordinator {
    const replica = c.replica || `${hostname()}-${process.pid}`;
    const remote = new RemoteEvidence(c.evidenceKeep);
    this.#fleetSource = new FleetMetricSource(this.#evidence, remote, replica);
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
        localWindows: (v, from, to) => this.#evidence.windows(v, from, to),
        heartbeat: () => ({
          pid: process.pid,
          proxy: this.proxyAddress,
          admin: this.adminAddress,
          canaryWeight: this.traffic.weight().canary,
          phase: this.rollout.machine.state.phase,
          step: this.rollout.machine.state.step,
        }),
        adopt: (docs, seq) => this.#adoptFleetState(docs, seq),
        leadership: (leading) => {
          this.#fleetSource!.merged = leading;
          if (leading && this.config.rollout.autoStart && this.rollout.machine.state.id === 0) {
            this.rollout
              .start('rollout started automatically (rollout.autoStart)')
              .catch((e: unknown) => this.log.warn({ event: 'autostart_held', err: (e as Error).message }, 'automatic rollout start held'));
          }
        },
        execute: (cmd: FleetCommand) => this.#commands.execute(cmd.op, cmd.args),
        log: this.log,
      },
      remote,
    );
    // every durable write is offered to the fleet; only the leader's are sent (fenced)
    this.state.observer = (kind, name, value) => fleet.record(kind, name, value);
    registerFleetGauges(this.registry, fleet, c.heartbeat);
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
    if (weights) this.traffic.adopt(weights, `fleet (seq ${seq})`);
    this.log.debug({ event: 'fleet_adopted', seq, docs: Object.keys(docs) }, 'fleet state adopted');
  }

  #versions(): { baseline: string; canary: string } {
    return { baseline: this.config.upstreams.baseline.version, canary: this.config.upstreams.canary.version };
  }

  status(): StatusView {
    const c = this.config;
    const { canary: w, owner } = this.traffic.weight();
    return {
      versions: {
        baseline: {
          url: c.upstreams.baseline.url,
          version: c.upstreams.baseline.version,
          weight: 100 - w,
          requests: this.workers?.totals('baseline') ?? this.recorder.totals('baseline'),
        },
        canary: {
          url: c.upstreams.canary.url,
          version: c.upstreams.canary.version,
          weight: w,
          requests: this.workers?.totals('canary') ?? this.recorder.totals('canary'),
        },
      },
      weights: { baseline: 100 - w, canary: w, owner },
      uptimeSeconds: Math.round((this.clock.now() - this.#startedAt) / 1000),
      inflight: this.workers?.inflight ?? this.proxy.inflight,
      proxy: this.proxyAddress,
      rollout: this.rollout.status(),
      ...(this.fleet ? { fleet: this.fleet.status() } : {}),
      ...(this.workers ? { workers: this.workers.views() } : {}),
      outlier: {
        enabled: this.proxy.outlier.enabled,
        baseline: this.proxy.outlier.view('baseline'),
        canary: this.proxy.outlier.view('canary'),
        effectiveCanaryWeight: this.proxy.outlier.route('canary') === 'canary' ? w : 0,
      },
    };
  }

  async start(): Promise<void> {
    if (this.#raiseFdLimit) {
      const fd = raiseFdLimit();
      const line = { event: 'fd_limit', result: fd.result, before: fd.before, after: fd.after, error: fd.error };
      if (fd.result === 'raised' || fd.result === 'at_hard_limit')
        this.log.info(line, `open-file limit: soft ${fd.after?.soft}, hard ${fd.after?.hard} (${fd.result})`);
      else
        this.log.warn(
          line,
          `could not raise the open-file limit (${fd.result}): soft ${fd.before?.soft ?? '?'}, hard ${fd.before?.hard ?? '?'}`,
        );
      this.proxy.configure(proxySettings(this.config)); // limits.maxConnections "auto" follows the new limit
    }
    this.log.info(
      {
        event: 'connection_limits',
        maxConnections: this.proxy.server.maxConnections,
        adminConnections: this.config.limits.adminConnections,
      },
      'connection limits',
    );
    const p = splitHostPort(listenSettings(this.config.listen).address);
    // The admin is built and its route schemas compiled (ready) before the proxy accepts: that work blocks
    // the event loop for a few hundred ms, and requests taken during it would wait behind it.
    // fleet mode: the fleet's state is taken before the first request is served
    await this.fleet?.start();
    const adminTls = this.#listenerTls('admin', this.config.admin.tls);
    this.admin = await buildAdmin({ ...this.adminDeps(), https: adminTls?.options ?? null });
    if (adminTls) adminTls.watch((ctx) => (this.admin!.server as unknown as { setSecureContext(c: unknown): void }).setSecureContext(ctx));
    await this.admin.ready();
    await this.dependencies.start();
    // workers: N > 1: the workers listen (one port, node:cluster), each given the state first (workers/pool.ts)
    this.proxyAddress = this.workers ? await this.workers.start() : await this.proxy.listen(p.host, p.port);
    if (this.workers) {
      const pool = this.workers;
      this.#pruneTimer = setInterval(() => pool.prune(), 10_000);
      this.#pruneTimer.unref();
    }
    const a = splitHostPort(this.config.admin.listen);
    this.admin.server.maxConnections = this.config.limits.adminConnections; // its own budget (limits.adminConnections)
    await this.admin.listen({ host: a.host, port: a.port });
    const addr = this.admin.server.address();
    this.adminAddress = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host: a.host, port: a.port };
    if (this.config.metrics.listen !== undefined) {
      const m = splitHostPort(this.config.metrics.listen);
      const metricsTls = this.#listenerTls('metrics', this.config.metrics.tls);
      const listener = (this.#metricsListener = new MetricsListener(() => this.#metricsText(), this.registry.contentType));
      this.metricsAddress = await listener.listen(m.host, m.port, metricsTls?.options ?? null);
      metricsTls?.watch((ctx) => listener.setSecureContext(ctx));
    }
    for (const f of this.#features) await f.start?.();
    this.#started = true;
    this.log.info(
      {
        event: 'started',
        proxy: this.proxyAddress,
        admin: this.adminAddress,
        canaryWeight: this.traffic.weight().canary,
        ...(this.metricsAddress ? { metrics: this.metricsAddress } : {}),
        ...(this.workers ? { workers: this.workers.views().map((w) => ({ worker: w.worker, pid: w.pid })) } : {}),
      },
      'canaryd started',
    );
  }

  /**
   * A TLS listener's options (admin.tls, metrics.tls) with the data plane's loader, which throws
   * CANARYD_ERR_TLS naming the key and file; `watch` reloads the certificate when its files change.
   */
  #listenerTls(
    key: 'admin' | 'metrics',
    t: Config['admin']['tls'],
  ): { options: ReturnType<typeof serverTlsOptions>; watch(apply: (ctx: object) => void): void } | null {
    const files = serverTlsSettings(t);
    if (files === null) return null;
    return {
      options: serverTlsOptions(files, ['http/1.1'], `${key}.tls`),
      watch: (apply) => {
        const w = new CertificateWatcher(
          files,
          (ctx) => {
            apply(ctx);
            this.log.info({ event: 'tls_certificate_reloaded', listener: key, cert: files.cert }, `${key} tls certificate reloaded`);
          },
          (err) =>
            this.log.warn(
              { event: 'tls_certificate_rejected', listener: key, cert: files.cert, reason: (err as Error).message },
              `${key} tls certificate rejected; keeping the previous one`,
            ),
          1000,
          `${key}.tls`,
        );
        this.#certWatchers.push(w);
      },
    };
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
      this.log.error(
        { event: 'config_rejected', source, code: err.code, problems: err.details },
        `config reload rejected, keeping the running config: ${err.message}`,
      );
      this.events.publish({
        type: 'config',
        action: 'rejected',
        source,
        error: err.code,
        message: err.message,
        problems: err.details ?? [],
      });
      return { ok: false, error: err };
    }
    this.applyConfig(next, source);
    return { ok: true };
  }

  applyConfig(next: Config, source: string): void {
    const prev = this.config;
    this.config = next;
    for (const f of this.#features) f.configure?.(next);
    const restart = (['listen', 'admin', 'state', 'metrics'] as const).filter(
      (k) =>
        JSON.stringify(prev[k]) !== JSON.stringify(next[k]) &&
        !(k === 'admin' && prev.admin.listen === next.admin.listen && JSON.stringify(prev.admin.tls) === JSON.stringify(next.admin.tls)),
    );
    if (restart.length > 0)
      this.log.warn({ event: 'config_restart_needed', keys: restart }, `changes to ${restart.join(', ')} apply on restart`);
    this.log.info({ event: 'config_applied', source }, 'config applied');
    this.events.publish({ type: 'config', action: 'applied', source, restartNeeded: restart });
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
    this.#started = false;
    for (const f of this.#features) await f.stop?.();
    this.log.info({ event: 'draining', inflight: this.workers?.inflight ?? this.proxy.inflight, deadlineMs: drainMs }, 'draining');
    this.#workersDraining = true;
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    const cut = this.workers ? await this.workers.drain(drainMs, settleMs) : await this.proxy.drain(drainMs, settleMs);
    // the last requests' spans leave after the drain, bounded by the export timeout (and 5 s at most)
    await this.tracing.stop(Math.min(5_000, this.config.tracing?.otlp.timeout ?? 0));
    await this.dependencies.stop(); // after the drain: in-flight requests may still need their dependencies
    await this.admin?.close();
    this.#adminToken.stop();
    await this.state.flush();
    this.#stateLock.release();
    await this.#metricsListener?.close();
    for (const w of this.#certWatchers) w.close();
    this.#certWatchers = [];
    this.log.info({ event: 'stopped', cut }, 'canaryd stopped');
    return { cut };
  }
}
