/**
 * Outlier ejection per version's upstream, after Envoy's outlier detection (consecutive_5xx,
 * consecutive_gateway_failure, base_ejection_time growing with repeat ejections, max_ejection_time): after
 * `consecutiveErrors` errors in a row from one upstream, each within `interval` of the one before, the
 * upstream is ejected for `baseEjectionTime × 2^(n-1)` (n: its recent ejections, at most
 * `maxEjectionTime`). When that time is up it is half-open ("probing"): traffic goes to it again and the
 * first exchange that ends decides — a success re-admits it, an error ejects it again for longer. n drops by
 * one for each `interval` the upstream stays healthy after a re-admission (Envoy's rule).
 *
 * While the canary is ejected (and the baseline is not) `route` sends canary-assigned requests — weighted,
 * sticky and pinned by a rule alike — to the baseline: the rollout's weight is not touched; the ejection is
 * an override owned here. A baseline ejection changes no routing (there is nowhere else to send baseline
 * traffic); it turns /readyz not-ready so the load balancer moves on.
 *
 * Hot path: `record` and `route` are a few field reads and writes, no allocation, no timer; the expiry of an
 * ejection is noticed lazily by the next `route`, `state` or `snapshot` call. State changes are reported
 * through `onChange` (rare; the composition root logs, audits, publishes and counts them).
 */
import type { VersionName } from '../../core/index.js';

/** What may count against an upstream: connect failures (refused, TLS), resets, timeouts, 5xx answers. */
export type OutlierErrorKind = 'connect' | 'reset' | 'timeout' | '5xx';
export const OUTLIER_ERROR_KINDS: readonly OutlierErrorKind[] = ['connect', 'reset', 'timeout', '5xx'];

export interface OutlierSettings {
  enabled: boolean;
  consecutiveErrors: number;
  errors: readonly OutlierErrorKind[];
  /** ms: errors further apart than this do not add up; also the decay step of the ejection multiplier */
  interval: number;
  baseEjectionTime: number;
  maxEjectionTime: number;
}

export type UpstreamHealthState = 'healthy' | 'ejected' | 'probing';

export interface OutlierChange {
  action: 'ejected' | 'probing' | 'readmitted';
  version: VersionName;
  /** what ejected it ("5 consecutive connect errors", "probe failed: 5xx"), or why it came back */
  reason: string;
  /** the error kind that caused an ejection */
  kind?: OutlierErrorKind;
  /** this ejection's length in ms, and its end (epoch ms) */
  durationMs?: number;
  until?: number;
  /** recent ejections of this upstream, this one included (the backoff multiplier) */
  ejections: number;
}

export interface UpstreamHealthView {
  state: UpstreamHealthState;
  consecutiveErrors: number;
  /** recent ejections (the backoff multiplier) */
  ejections: number;
  /** epoch ms the current ejection ends, null when not ejected */
  ejectedUntil: number | null;
  /** the last ejection's reason, null before the first */
  lastReason: string | null;
}

class UpstreamHealth {
  state: UpstreamHealthState = 'healthy';
  consecutive = 0;
  lastErrorAt = -Infinity;
  ejections = 0;
  until = 0;
  readmittedAt = 0;
  lastReason: string | null = null;
}

export class OutlierDetector {
  #s: OutlierSettings;
  #counts = { connect: false, reset: false, timeout: false, '5xx': false };
  readonly #h: Record<VersionName, UpstreamHealth> = { baseline: new UpstreamHealth(), canary: new UpstreamHealth() };
  /** true while either upstream is not healthy: the only check `route` makes on the healthy path */
  #anyOut = false;
  readonly #onChange: (c: OutlierChange) => void;
  readonly #now: () => number;

  constructor(settings: OutlierSettings, onChange: (c: OutlierChange) => void = () => undefined, now: () => number = Date.now) {
    this.#s = settings;
    this.#onChange = onChange;
    this.#now = now;
    this.configure(settings);
  }

  /** New settings. Turning detection off re-admits both upstreams at once. */
  configure(settings: OutlierSettings): void {
    this.#s = settings;
    for (const k of OUTLIER_ERROR_KINDS) this.#counts[k] = settings.errors.includes(k);
    if (!settings.enabled) {
      for (const v of ['baseline', 'canary'] as const) {
        const h = this.#h[v];
        if (h.state !== 'healthy') this.#readmit(v, h, this.#now(), 'outlier detection turned off');
        h.consecutive = 0;
        h.ejections = 0;
      }
    }
  }

  get enabled(): boolean {
    return this.#s.enabled;
  }

  /**
   * One exchange with `version`'s upstream ended: `kind` is its error, or null when the upstream answered
   * (an answer whose kind is not counted, e.g. a 5xx with `errors` lacking 5xx, is an answer: it shows the
   * upstream alive). Exchanges that never reached the upstream (faults, overflow, client aborts) are not
   * reported at all.
   */
  record(version: VersionName, kind: OutlierErrorKind | null): void {
    if (!this.#s.enabled) return;
    const h = this.#h[version];
    const counted = kind !== null && this.#counts[kind];
    if (h.state !== 'healthy') {
      const now = this.#now();
      if (h.state === 'ejected') {
        if (now < h.until) return; // a request sent before the ejection, ending now: the ejection stands
        this.#probe(version, h);
      }
      // half-open: the first exchange that ends decides
      if (counted) this.#eject(version, h, now, kind, `probe failed: ${kind}`);
      else this.#readmit(version, h, now, 'probe succeeded');
      return;
    }
    if (!counted) {
      h.consecutive = 0;
      return;
    }
    const now = this.#now();
    if (now - h.lastErrorAt > this.#s.interval) h.consecutive = 0;
    h.lastErrorAt = now;
    if (++h.consecutive >= this.#s.consecutiveErrors)
      this.#eject(version, h, now, kind, `${h.consecutive} consecutive errors, the last ${kind}`);
  }

  /** Where a request picked for `version` goes: the baseline while the canary is ejected (and the baseline is not). */
  route(version: VersionName): VersionName {
    if (!this.#anyOut || version === 'baseline') return version;
    return this.ejected('canary') && !this.ejected('baseline') ? 'baseline' : version;
  }

  /** True while `version`'s upstream is ejected (not once its time is up: then it is probing). */
  ejected(version: VersionName): boolean {
    const h = this.#h[version];
    if (h.state !== 'ejected') return false;
    if (this.#now() < h.until) return true;
    this.#probe(version, h);
    return false;
  }

  view(version: VersionName): UpstreamHealthView {
    this.ejected(version); // notice an ejection whose time is up
    const h = this.#h[version];
    return {
      state: h.state,
      consecutiveErrors: h.consecutive,
      ejections: this.#decayed(h, this.#now()),
      ejectedUntil: h.state === 'ejected' ? h.until : null,
      lastReason: h.lastReason,
    };
  }

  /** The backoff multiplier now: one less for each `interval` healthy since the last re-admission. */
  #decayed(h: UpstreamHealth, now: number): number {
    if (h.state !== 'healthy' || h.ejections === 0) return h.ejections;
    const steps = this.#s.interval > 0 ? Math.floor((now - h.readmittedAt) / this.#s.interval) : h.ejections;
    return Math.max(0, h.ejections - steps);
  }

  #eject(version: VersionName, h: UpstreamHealth, now: number, kind: OutlierErrorKind, reason: string): void {
    const n = this.#decayed(h, now) + 1;
    const s = this.#s;
    const durationMs = Math.min(s.baseEjectionTime * 2 ** Math.min(n - 1, 30), Math.max(s.maxEjectionTime, s.baseEjectionTime));
    h.state = 'ejected';
    h.ejections = n;
    h.until = now + durationMs;
    h.consecutive = 0;
    h.lastReason = reason;
    this.#anyOut = true;
    this.#onChange({ action: 'ejected', version, reason, kind, durationMs, until: h.until, ejections: n });
  }

  #probe(version: VersionName, h: UpstreamHealth): void {
    h.state = 'probing';
    this.#onChange({ action: 'probing', version, reason: 'ejection time over: the next exchange decides', ejections: h.ejections });
  }

  #readmit(version: VersionName, h: UpstreamHealth, now: number, reason: string): void {
    h.state = 'healthy';
    h.readmittedAt = now;
    h.consecutive = 0;
    this.#anyOut = this.#h.baseline.state !== 'healthy' || this.#h.canary.state !== 'healthy';
    this.#onChange({ action: 'readmitted', version, reason, ejections: h.ejections });
  }
}
