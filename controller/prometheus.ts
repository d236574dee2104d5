/**
 * The only place canaryd talks to Prometheus: an HTTP client of the instant-query API, and the feed of
 * Prometheus-backed checks (rollout.metrics) the rollout controller polls on each analysis tick. The tick is
 * synchronous and must never wait on the network, so a poll starts the queries that are due (each check at
 * its own interval, at most one in flight) and returns the checks judged from the latest answers; an answer
 * lands between ticks. The judging is pure (analysis/metrics/); this file owns the I/O, the timing and each
 * check's failing streak.
 */
import { readFile } from 'node:fs/promises';
import { Counter, type Registry } from 'prom-client';
import { Agent, request } from 'undici';
import type { Clock, VersionName } from '../core/index.js';
import type { Config } from '../config/index.js';
import {
  checkQuery,
  expectedVersion,
  judgeSample,
  metricCheck,
  queryResultValue,
  type ArmValue,
  type CheckResult,
  type MetricCheckSpec,
  type MetricSample,
  type QueryContext,
  type SampleVerdict,
} from '../analysis/index.js';

export type PrometheusSettings = NonNullable<Config['analysis']['prometheus']>;

/** What the controller asks of a source of Prometheus-backed checks. */
export interface MetricCheckFeed {
  /** starts the due queries; returns every check as judged from answers given at or after `from` */
  poll(now: number, from: number): CheckResult[];
  /** a new rollout: forget samples and streaks */
  reset(): void;
}

export type QueryAnswer = { ok: true; status: number; body: unknown } | { ok: false; reason: string };

export class PrometheusClient {
  readonly settings: PrometheusSettings;
  #agent: Agent;
  #onQuery: (outcome: 'ok' | 'error') => void;

  constructor(settings: PrometheusSettings, onQuery: (outcome: 'ok' | 'error') => void = () => {}) {
    this.settings = settings;
    this.#agent = new Agent({
      connections: 4,
      headersTimeout: settings.timeout,
      bodyTimeout: settings.timeout,
      connectTimeout: settings.timeout,
    });
    this.#onQuery = onQuery;
  }

  async #headers(): Promise<Record<string, string>> {
    const h: Record<string, string> = { accept: 'application/json', ...this.settings.headers };
    const { bearerTokenEnv, bearerTokenFile } = this.settings;
    if (bearerTokenEnv !== undefined) h.authorization = `Bearer ${process.env[bearerTokenEnv] ?? ''}`;
    if (bearerTokenFile !== undefined) h.authorization = `Bearer ${(await readFile(bearerTokenFile, 'utf8')).trim()}`;
    return h;
  }

  /** One instant query. Never throws: a transport failure is an answer with the reason. */
  async query(expr: string): Promise<QueryAnswer> {
    const url = `${this.settings.url.replace(/\/+$/, '')}/api/v1/query`;
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { ...(await this.#headers()), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ query: expr, timeout: `${Math.max(1, Math.floor(this.settings.timeout / 1000))}s` }).toString(),
        signal: AbortSignal.timeout(this.settings.timeout),
      });
      const text = await res.body.text();
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
      const answer: QueryAnswer =
        body === null && res.statusCode !== 200
          ? { ok: false, reason: `Prometheus answered HTTP ${res.statusCode}: ${text.slice(0, 200).trim()}` }
          : { ok: true, status: res.statusCode, body };
      this.#onQuery(answer.ok && res.statusCode === 200 ? 'ok' : 'error');
      return answer;
    } catch (e) {
      this.#onQuery('error');
      const err = e as { code?: string; name?: string; message?: string };
      const why =
        err.name === 'TimeoutError' || err.code === 'UND_ERR_HEADERS_TIMEOUT'
          ? `no answer within ${this.settings.timeout} ms`
          : `${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`;
      return { ok: false, reason: `cannot query Prometheus at ${this.settings.url}: ${why}` };
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/** rollout.metrics with its defaults filled in from the rollout section. */
export function metricCheckSpecs(r: Config['rollout']): MetricCheckSpec[] {
  return r.metrics.map((m) => ({
    name: m.name,
    query: m.query,
    thresholdRange: m.thresholdRange,
    compare: m.compare === 'baseline' ? { maxDegradation: m.maxDegradation ?? 0, direction: m.direction ?? 'lower-is-better' } : undefined,
    critical: m.critical,
    intervalMs: m.interval ?? r.analysisInterval,
    failures: m.failures ?? r.failureLimit,
  }));
}

interface CheckState {
  spec: MetricCheckSpec;
  inflight: boolean;
  startedAt: number;
  latest: { sample: MetricSample; verdict: SampleVerdict; startedAt: number } | null;
  streak: number;
}

export interface PrometheusChecksOptions {
  client: PrometheusClient | null;
  specs: MetricCheckSpec[];
  context: () => QueryContext;
  clock: Clock;
  log?: { warn(obj: object, msg: string): void };
}

export class PrometheusChecks implements MetricCheckFeed {
  #o: PrometheusChecksOptions;
  #checks: CheckState[] = [];
  #pending = new Set<Promise<void>>();
  #generation = 0;

  constructor(o: PrometheusChecksOptions) {
    this.#o = o;
    this.configure(o.specs, o.client);
  }

  get client(): PrometheusClient | null {
    return this.#o.client;
  }

  /** New specs or client: checks keep their samples when their spec is unchanged. */
  configure(specs: MetricCheckSpec[], client: PrometheusClient | null): void {
    const old = new Map(this.#checks.map((c) => [JSON.stringify(c.spec), c]));
    if (client !== this.#o.client) {
      void this.#o.client?.close();
      old.clear();
    }
    this.#o = { ...this.#o, specs, client };
    this.#checks = specs.map(
      (spec) => old.get(JSON.stringify(spec)) ?? { spec, inflight: false, startedAt: -Infinity, latest: null, streak: 0 },
    );
  }

  reset(): void {
    this.#generation++;
    for (const c of this.#checks) {
      c.latest = null;
      c.streak = 0;
      c.inflight = false;
      c.startedAt = -Infinity;
    }
  }

  poll(now: number, from: number): CheckResult[] {
    const client = this.#o.client;
    return this.#checks.map((c) => {
      if (client !== null && !c.inflight && now - c.startedAt >= c.spec.intervalMs) this.#run(c, client, now);
      const latest = c.latest !== null && c.latest.startedAt >= from ? c.latest : null;
      return metricCheck(c.spec, latest, c.streak, now, 2 * c.spec.intervalMs + (client?.settings.timeout ?? 0) + 1000);
    });
  }

  /** Resolves when every query in flight has been answered (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  async close(): Promise<void> {
    await this.settle();
    await this.#o.client?.close();
  }

  #run(c: CheckState, client: PrometheusClient, now: number): void {
    c.inflight = true;
    c.startedAt = now;
    const gen = this.#generation;
    const p = this.#sample(c.spec, client)
      .then((sample) => {
        if (gen !== this.#generation || !this.#checks.includes(c)) return;
        const verdict = judgeSample(c.spec, sample);
        if (verdict.status === 'fail') c.streak++;
        else if (verdict.status === 'pass') c.streak = 0;
        if (verdict.status === 'nodata' && c.latest?.verdict.status !== 'nodata')
          this.#o.log?.warn(
            { event: 'metric_check_nodata', check: c.spec.name, reason: verdict.detail },
            `metric check ${c.spec.name}: ${verdict.detail}`,
          );
        c.latest = { sample, verdict, startedAt: now };
      })
      .finally(() => {
        c.inflight = false;
        this.#pending.delete(p);
      });
    this.#pending.add(p);
  }

  async #sample(spec: MetricCheckSpec, client: PrometheusClient): Promise<MetricSample> {
    const ctx = this.#o.context();
    const arms: VersionName[] = spec.compare ? ['canary', 'baseline'] : ['canary'];
    const values = await Promise.all(arms.map((arm) => this.#value(client, checkQuery(spec, arm, ctx), arm, ctx)));
    return { at: this.#o.clock.now(), canary: values[0], baseline: values[1] };
  }

  async #value(client: PrometheusClient, expr: string, arm: VersionName, ctx: QueryContext): Promise<ArmValue> {
    const a = await client.query(expr);
    if (!a.ok) return { ok: false, reason: a.reason };
    const v = queryResultValue(a.status, a.body, expectedVersion(arm, ctx));
    return v.ok ? v : { ok: false, reason: `${v.reason} (query: ${expr})` };
  }
}

/** The query context of a config: release strings and the service name. */
export function queryContext(c: Config): QueryContext {
  return { releases: { baseline: c.upstreams.baseline.version, canary: c.upstreams.canary.version }, service: c.analysis.service };
}

/**
 * The checks feed of a config, and how to follow config changes: a new client only when
 * analysis.prometheus changed (it holds a connection pool). Queries are counted in
 * canaryd_prometheus_queries_total{outcome} (ok, error): the load canaryd puts on Prometheus.
 */
export function prometheusChecksFor(c: () => Config, deps: { clock: Clock; registry: Registry; log?: PrometheusChecksOptions['log'] }) {
  const queries = new Counter({
    name: 'canaryd_prometheus_queries_total',
    help: 'Instant queries sent to Prometheus by the rollout.metrics checks, by outcome',
    labelNames: ['outcome'],
    registers: [deps.registry],
  });
  for (const o of ['ok', 'error']) queries.labels(o);
  const clientOf = (p: PrometheusSettings | undefined) =>
    p === undefined ? null : new PrometheusClient(p, (o) => queries.labels(o).inc());
  let settings = JSON.stringify(c().analysis.prometheus ?? null);
  const checks = new PrometheusChecks({
    client: clientOf(c().analysis.prometheus),
    specs: metricCheckSpecs(c().rollout),
    context: () => queryContext(c()),
    clock: deps.clock,
    log: deps.log,
  });
  return {
    checks,
    configure(next: Config): void {
      const s = JSON.stringify(next.analysis.prometheus ?? null);
      const client = s === settings ? checks.client : clientOf(next.analysis.prometheus);
      settings = s;
      checks.configure(metricCheckSpecs(next.rollout), client);
    },
  };
}
