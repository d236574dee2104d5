/**
 * The composition root of a data-plane worker (`workers: N`, docs/fleet.md "Workers"): the proxy listener
 * (HTTP/1.1 and HTTP/2 as configured) with its stage chain — observation, mirror, access log, faults — and
 * nothing else: no admin, no controller, no state.dir, no audit, no dependency relay (those stay in the
 * primary, sidecar.ts). Its config and traffic state come from the primary over IPC (workers/link.ts); it
 * never reads the config file nor writes a file. `proxySettings` lives here so that a worker does not load
 * the admin's modules (sidecar.ts imports it from here).
 */
import cluster from 'node:cluster';
import { pino, destination, type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { grpcCodeMask, systemClock, type VersionName } from './core/index.js';
import { listenSettings, splitHostPort, type Config } from './config/index.js';
import {
  autoMaxConnections,
  AccessLogStage,
  FaultEngine,
  Mirror,
  ObservationStage,
  ProxyMetrics,
  ProxyServer,
  readFdLimits,
  TrafficSplitter,
  WindowedRecorder,
  type FaultMirror,
  type ProxySettings,
  type RejectReason,
  type RuleSpec,
} from './proxy/index.js';
import { Tracing } from './tracing/index.js';
import { readFileSync } from 'node:fs';
import { PrimaryLink, WORKER_SLOT_ENV, type NoticeKind, type TrafficPush, type WorkerPlane, type WorkerTotals } from './workers/index.js';

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
    outlier: c.outlier,
    drain: { settle: c.shutdown.settle, idleGrace: c.shutdown.idleGrace },
  };
}

/** Rejections by a limit are logged at most once per this long per reason (sidecar.ts does the same). */
const REJECT_LOG_EVERY_MS = 10_000;

/** A worker writes no file: its fault latch comes from the primary (FaultMirror), so this store stays empty. */
const NO_STORE = { readJson: () => undefined, writeJson: () => undefined, append: () => undefined };

interface Plane {
  proxy: ProxyServer;
  splitter: TrafficSplitter;
  mirror: Mirror;
  accessLog: AccessLogStage;
  faults: FaultEngine;
  tracing: Tracing;
}

/** canaryd's own version (the spans' service.version) */
function canarydVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export class WorkerDataPlane implements WorkerPlane {
  readonly windowMs: number;
  readonly registry = new Registry();
  readonly recorder: WindowedRecorder;
  readonly proxyMetrics: ProxyMetrics;
  readonly #log: Logger;
  /** tells the primary of what it owns: an upstream ejection, a fault auto-disable (it logs, audits, acts) */
  notice: (kind: NoticeKind, detail: unknown) => void = () => undefined;
  #p: Plane | null = null;
  readonly #rejects = new Map<RejectReason, number>();
  #tracingTimeout = 0;

  constructor(log: Logger) {
    this.#log = log;
    collectDefaultMetrics({ register: this.registry });
    this.recorder = new WindowedRecorder({ now: () => systemClock.now() });
    this.windowMs = this.recorder.windowMs;
    this.proxyMetrics = new ProxyMetrics(this.registry);
  }

  async init(raw: unknown, traffic: TrafficPush): Promise<{ host: string; port: number }> {
    const c = raw as Config;
    this.#tracingTimeout = c.tracing?.otlp.timeout ?? 0;
    const log = this.#log;
    log.level = c.log.level;
    this.recorder.grpcErrorMask = grpcCodeMask(c.grpc.errorCodes);
    const splitter = new TrafficSplitter(c.routing);
    const accessLog = new AccessLogStage({ log, sampleRate: c.log.accessLogSampleRate });
    let proxy: ProxyServer | null = null;
    const mirror = new Mirror({
      percent: c.routing.mirror.percent,
      maxBodyBytes: c.routing.mirror.maxBodyBytes,
      target: () => proxy!.upstream('canary'),
      count: (outcome) => this.proxyMetrics.mirrored.labels(outcome).inc(),
    });
    proxy = new ProxyServer({
      settings: proxySettings(c),
      splitter,
      stages: [new ObservationStage(this.recorder, this.proxyMetrics), mirror, accessLog],
      onEvent: (level, event, detail) => log[level]({ event, ...detail }, event.replace(/_/g, ' ')),
      onReject: (reason) => this.#rejected(reason),
      onOutlier: (change) => this.notice('outlier', change),
    });
    const faults = new FaultEngine({
      config: c.faults,
      environment: c.environment,
      registry: this.registry,
      clock: systemClock,
      log,
      store: NO_STORE,
    });
    proxy.addStage(faults);
    // this worker's own auto-disable (its error-rate window) becomes the primary's latch, which every worker follows
    faults.onHalt(() => {
      const h = faults.halted;
      if (h?.kind === 'auto-disable') this.notice('faults-halted', h);
    });
    let failureLoggedAt = -Infinity;
    const tracing = new Tracing({
      registry: this.registry,
      serviceVersion: canarydVersion(),
      onExportFailure: (reason, detail) => {
        const now = systemClock.now();
        if (now - failureLoggedAt < REJECT_LOG_EVERY_MS) return;
        failureLoggedAt = now;
        log.warn({ event: 'tracing_export_failed', reason, detail }, `span export failed (${reason}): ${detail}; its spans are dropped`);
      },
    });
    tracing.configure(c);
    proxy.addStage(tracing.stage); // each worker exports its own spans
    this.#p = { proxy, splitter, mirror, accessLog, faults, tracing };
    this.traffic(traffic); // the primary's state before the first request
    const p = splitHostPort(listenSettings(c.listen).address);
    return proxy.listen(p.host, p.port);
  }

  /** A traffic change from the primary, applied synchronously: the next request routed sees it. */
  traffic(t: TrafficPush): void {
    const p = this.#p;
    if (!p) return;
    p.splitter.setRuntimeRules(t.routes as RuleSpec[]);
    p.splitter.setCanaryPinsSuspended(t.pinsSuspended, 'primary');
    p.splitter.setWeights({ canary: t.canary }, 'primary');
    p.mirror.percent = t.mirror.percent;
    p.mirror.maxBodyBytes = t.mirror.maxBodyBytes;
    if (t.faults) p.faults.follow(t.faults as FaultMirror);
    this.proxyMetrics.setTrafficPercent(t.canary);
  }

  configure(raw: unknown): void {
    const c = raw as Config;
    const p = this.#p;
    if (!p) return;
    this.#log.level = c.log.level;
    this.recorder.grpcErrorMask = grpcCodeMask(c.grpc.errorCodes);
    p.accessLog.sampleRate = c.log.accessLogSampleRate;
    p.splitter.configure(c.routing, { applyWeight: false }); // the weight is the primary's (traffic pushes)
    p.proxy.configure(proxySettings(c));
    p.faults.configure(c.faults, c.environment);
    p.tracing.configure(c);
    this.#tracingTimeout = c.tracing?.otlp.timeout ?? 0;
  }

  windows(version: VersionName, fromMs: number, toMs: number) {
    return this.recorder.windows(version, fromMs, toMs);
  }

  totals(version: VersionName): WorkerTotals {
    return this.recorder.totals(version);
  }

  get inflight(): number {
    return this.#p?.proxy.inflight ?? 0;
  }

  metrics(): Promise<unknown[]> {
    return this.registry.getMetricsAsJSON();
  }

  async drain(deadlineMs: number, settleMs: number): Promise<number> {
    const p = this.#p;
    if (!p) return 0;
    p.faults.stop(); // lift in-flight faults so a hang cannot hold up the drain
    this.#log.info({ event: 'draining', inflight: p.proxy.inflight, deadlineMs }, 'draining');
    const cut = await p.proxy.drain(deadlineMs, settleMs);
    await p.tracing.stop(Math.min(5_000, this.#tracingTimeout)); // the last requests' spans
    return cut;
  }

  exit(code: number): void {
    this.#log.flush();
    process.exit(code);
  }

  #rejected(reason: RejectReason): void {
    this.proxyMetrics.rejected.labels(reason).inc();
    const now = systemClock.now();
    if (now - (this.#rejects.get(reason) ?? -Infinity) < REJECT_LOG_EVERY_MS) return;
    this.#rejects.set(reason, now);
    this.#log.warn({ event: 'limit_reached', reason }, `limit reached: ${reason}`);
  }
}

/** A worker process: started by the primary's cluster.fork (workers/pool.ts), never by hand. */
if (cluster.isWorker && process.env[WORKER_SLOT_ENV]) {
  const slot = Number(process.env[WORKER_SLOT_ENV]);
  const log = pino(
    { level: 'info', base: { service: 'canaryd', worker: slot } },
    destination({ dest: 1, sync: false, maxLength: 8 * 1024 * 1024 }),
  );
  const plane = new WorkerDataPlane(log);
  const link = new PrimaryLink(plane);
  plane.notice = (kind, detail) => link.notice(kind, detail);
  link.start();
}
