/**
 * FinOps (finops:, docs/prometheus.md#finops): every finops.interval, the CPU cores, memory and request
 * rate of each version from Prometheus (finops.sources, cAdvisor and canaryd series by default), turned into
 * costs by the pure arithmetic of analysis/metrics/cost.ts and exported:
 *   canaryd_cost_per_1k_requests{version}   cost of 1,000 requests (absent without traffic or data)
 *   canaryd_cost_per_day_estimate{version}  cost per day at the current usage
 *   canaryd_cost_budget_per_day             finops.budget.perDay (absent when unset)
 * and, with finops.check.enabled, the rollout check compare.costPerRequest (point-in-time; nodata holds).
 */
import { Gauge, type Registry } from 'prom-client';
import { promRange, renderTemplate, VERSION_NAMES, type Clock, type VersionName } from '../core/index.js';
import type { Config } from '../config/index.js';
import { costCheck, queryResultValue, versionCost, type CheckResult, type VersionCost } from '../analysis/index.js';
import type { PrometheusClient } from './prometheus.js';
import { queryContext } from './prometheus.js';

type Cost = VersionCost | { reason: string };

export class FinopsCosts {
  #config: () => Config;
  #client: () => PrometheusClient | null;
  #clock: Clock;
  #timer: NodeJS.Timeout | null = null;
  #latest: { at: number; costs: Record<VersionName, Cost> } | null = null;
  #running: Promise<void> | null = null;
  readonly per1k: Gauge<'version'>;
  readonly perDay: Gauge<'version'>;
  readonly budget: Gauge;

  constructor(o: { config: () => Config; client: () => PrometheusClient | null; clock: Clock; registry: Registry }) {
    this.#config = o.config;
    this.#client = o.client;
    this.#clock = o.clock;
    const registers = [o.registry];
    this.per1k = new Gauge({
      name: 'canaryd_cost_per_1k_requests',
      help: 'Cost of 1,000 requests per version, from finops.prices and the usage in finops.sources',
      labelNames: ['version'],
      registers,
    });
    this.perDay = new Gauge({
      name: 'canaryd_cost_per_day_estimate',
      help: 'Cost per day of each version at its current usage',
      labelNames: ['version'],
      registers,
    });
    const budget = () => this.#config().finops.budget.perDay;
    this.budget = new Gauge({
      name: 'canaryd_cost_budget_per_day',
      help: 'finops.budget.perDay: the budget of both versions together',
      registers,
      collect() {
        const b = budget();
        if (b === undefined) this.reset();
        else this.set(b);
      },
    });
  }

  get enabled(): boolean {
    return this.#config().finops.prices !== undefined && this.#client() !== null;
  }

  /** Starts (or restarts, after a config change) the query timer. */
  start(): void {
    this.stop();
    if (!this.enabled) return;
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#config().finops.interval);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One round of queries (one in flight at a time); resolves when the gauges are set. */
  refresh(): Promise<void> {
    this.#running ??= this.#refresh().finally(() => (this.#running = null));
    return this.#running;
  }

  /** compare.costPerRequest for the judge, when finops.check.enabled: answers from before `from` are not judged. */
  checks(now: number, from: number): CheckResult[] {
    const f = this.#config().finops;
    if (!f.check.enabled) return [];
    const l = this.#latest;
    const stale = l === null || l.at < from || now - l.at > 2 * f.interval + 10_000;
    const reason = {
      reason: l === null || l.at < from ? 'no answer yet at this step' : 'the last answer is stale (Prometheus not answering?)',
    };
    return [
      costCheck(stale ? reason : l.costs.canary, stale ? reason : l.costs.baseline, {
        maxDegradation: f.check.maxDegradation,
        critical: f.check.critical,
        ageMs: l ? now - l.at : 0,
      }),
    ];
  }

  async #refresh(): Promise<void> {
    const c = this.#config();
    const client = this.#client();
    if (c.finops.prices === undefined || client === null) return;
    const prices = c.finops.prices;
    const ctx = queryContext(c);
    const costs = {} as Record<VersionName, Cost>;
    await Promise.all(
      VERSION_NAMES.map(async (arm) => {
        const values = {
          version: ctx.releases[arm],
          arm,
          canary: ctx.releases.canary,
          baseline: ctx.releases.baseline,
          interval: promRange(c.finops.interval),
          service: ctx.service,
        };
        const [cores, memoryBytes, rps] = await Promise.all(
          (['cpu', 'memory', 'requests'] as const).map((k) => this.#value(client, renderTemplate(c.finops.sources[k], values), k)),
        );
        const bad = [cores, memoryBytes, rps].find((v): v is { reason: string } => typeof v !== 'number');
        costs[arm] =
          bad ?? versionCost({ cores: cores as number, memoryBytes: memoryBytes as number, requestsPerSecond: rps as number }, prices);
      }),
    );
    this.#latest = { at: this.#clock.now(), costs };
    for (const v of VERSION_NAMES) {
      const k = costs[v];
      if ('reason' in k) {
        this.per1k.remove(v);
        this.perDay.remove(v);
        continue;
      }
      this.perDay.labels(v).set(k.perDay);
      if (k.per1kRequests === null) this.per1k.remove(v);
      else this.per1k.labels(v).set(k.per1kRequests);
    }
  }

  async #value(client: PrometheusClient, expr: string, what: string): Promise<number | { reason: string }> {
    const a = await client.query(expr);
    if (!a.ok) return { reason: a.reason };
    // no version test here: the sources select by version themselves, and aggregate it away
    const v = queryResultValue(a.status, a.body, { own: [], other: [] });
    return v.ok ? v.value : { reason: `${what}: ${v.reason} (query: ${expr})` };
  }
}
