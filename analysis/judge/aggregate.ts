/**
 * One pass over a step's windows: merges fault-touched traffic in or leaves it out (settings.countFaulted),
 * aligns the two arms window by window (time-matched strata for the error-rate test), and sums each arm's
 * latency histogram once. Everything later reads these arrays; nothing walks the windows again.
 */
import { LATENCY_BOUNDS_MS, LATENCY_BUCKETS, type WindowCounts, type WindowRecord } from '../../core/index.js';

/** Totals of one arm. `hist` is scratch owned by aggregate(): valid until the next call, never kept. */
export interface ArmTotals {
  requests: number;
  /** 5xx answers (gateway errors are a subset of them) */
  errors: number;
  /** answers that are not 1xx–3xx */
  nonSuccess: number;
  gatewayErrors: number;
  latencySumMs: number;
  /** latency histogram in the shared bucket layout */
  hist: Float64Array;
  faultedRequests: number;
}

/** Per aligned window (stratum): requests and events of each arm. */
export interface Strata {
  count: number;
  start: Float64Array;
  nc: Float64Array;
  nb: Float64Array;
  /** 5xx per arm */
  ec: Float64Array;
  eb: Float64Array;
  /** non-success (4xx + 5xx) per arm */
  uc: Float64Array;
  ub: Float64Array;
}

export interface Aggregate {
  canary: ArmTotals;
  baseline: ArmTotals;
  strata: Strata;
}

// The arms' summed histograms are scratch too: reports copy numbers out of them, never the arrays, and
// typed-array backing stores allocated per call would keep the garbage collector busy.
const ARM_HIST = { canary: new Float64Array(LATENCY_BUCKETS), baseline: new Float64Array(LATENCY_BUCKETS) };

function emptyArm(hist: Float64Array): ArmTotals {
  hist.fill(0);
  return { requests: 0, errors: 0, nonSuccess: 0, gatewayErrors: 0, latencySumMs: 0, hist, faultedRequests: 0 };
}

/**
 * Histograms are summed in 32-bit integer scratch (about twice as fast as doubles) and flushed into the
 * Float64 totals every FLUSH_EVERY windows, so no bucket can wrap: a 1 s window holds far fewer than
 * 2^32 / FLUSH_EVERY requests in one bucket.
 */
const FLUSH_EVERY = 256;
const SCRATCH = { canary: new Uint32Array(LATENCY_BUCKETS), baseline: new Uint32Array(LATENCY_BUCKETS) };

function flush(arm: ArmTotals, scratch: Uint32Array): void {
  const h = arm.hist;
  for (let i = 0; i < h.length; i++) h[i] += scratch[i];
  scratch.fill(0);
}

/** Strata arrays are scratch reused across calls (the judge is synchronous; reports never hold them). */
let STRATA_CAP = 0;
let STRATA: Strata | null = null;
function strataFor(cap: number): Strata {
  if (STRATA === null || cap > STRATA_CAP) {
    STRATA_CAP = Math.max(cap, 2 * STRATA_CAP, 64);
    const a = (): Float64Array => new Float64Array(STRATA_CAP);
    STRATA = { count: 0, start: a(), nc: a(), nb: a(), ec: a(), eb: a(), uc: a(), ub: a() };
  }
  STRATA.count = 0;
  return STRATA;
}

function errorsOf(c: WindowCounts): number {
  return Math.max(c.statusClass[4], c.gatewayErrors);
}
function nonSuccessOf(c: WindowCounts): number {
  return Math.max(0, c.requests - c.statusClass[0] - c.statusClass[1] - c.statusClass[2]);
}

function addCounts(arm: ArmTotals, scratch: Uint32Array, c: WindowCounts): void {
  arm.requests += c.requests;
  arm.errors += errorsOf(c);
  arm.nonSuccess += nonSuccessOf(c);
  arm.gatewayErrors += c.gatewayErrors;
  arm.latencySumMs += c.latencySumMs;
  if (c.requests === 0) return;
  const src = c.latency;
  const n = Math.min(scratch.length, src.length);
  for (let i = 0; i < n; i++) scratch[i] += src[i];
}

function inRange(w: WindowRecord, from: number, to: number): boolean {
  return w.start + w.durationMs > from && w.start < to;
}

function sorted(ws: readonly WindowRecord[]): readonly WindowRecord[] {
  for (let i = 1; i < ws.length; i++) if (ws[i].start < ws[i - 1].start) return [...ws].sort((a, b) => a.start - b.start);
  return ws;
}

/** One arm's window into its totals and into stratum k (requests, 5xx, non-success); faulted ones only when counted. */
function addWindow(
  arm: ArmTotals,
  scratch: Uint32Array,
  w: WindowRecord,
  countFaulted: boolean,
  n: Float64Array,
  e: Float64Array,
  u: Float64Array,
  k: number,
): void {
  addCounts(arm, scratch, w.clean);
  arm.faultedRequests += w.faulted.requests;
  if (countFaulted) addCounts(arm, scratch, w.faulted);
  n[k] = w.clean.requests + (countFaulted ? w.faulted.requests : 0);
  e[k] = errorsOf(w.clean) + (countFaulted ? errorsOf(w.faulted) : 0);
  u[k] = nonSuccessOf(w.clean) + (countFaulted ? nonSuccessOf(w.faulted) : 0);
}

export function aggregate(
  baselineIn: readonly WindowRecord[],
  canaryIn: readonly WindowRecord[],
  from: number,
  to: number,
  countFaulted: boolean,
): Aggregate {
  const bw = sorted(baselineIn);
  const cw = sorted(canaryIn);
  const strata = strataFor(bw.length + cw.length);
  const canary = emptyArm(ARM_HIST.canary);
  const baseline = emptyArm(ARM_HIST.baseline);
  const sc = SCRATCH.canary;
  const sb = SCRATCH.baseline;
  sc.fill(0);
  sb.fill(0);
  let i = 0;
  let j = 0;
  while (i < bw.length || j < cw.length) {
    const b = i < bw.length ? bw[i] : undefined;
    const c = j < cw.length ? cw[j] : undefined;
    const start = Math.min(b ? b.start : Infinity, c ? c.start : Infinity);
    const bHere = b !== undefined && b.start === start ? b : undefined;
    const cHere = c !== undefined && c.start === start ? c : undefined;
    if (bHere) i++;
    if (cHere) j++;
    const k = strata.count;
    let any = false;
    if (bHere && inRange(bHere, from, to)) {
      any = true;
      addWindow(baseline, sb, bHere, countFaulted, strata.nb, strata.eb, strata.ub, k);
    }
    if (cHere && inRange(cHere, from, to)) {
      any = true;
      addWindow(canary, sc, cHere, countFaulted, strata.nc, strata.ec, strata.uc, k);
    }
    if (any) {
      strata.start[k] = start;
      strata.count++;
      if (strata.count % FLUSH_EVERY === 0) {
        flush(canary, sc);
        flush(baseline, sb);
      }
    } else {
      strata.nb[k] = strata.eb[k] = strata.ub[k] = strata.nc[k] = strata.ec[k] = strata.uc[k] = 0;
    }
  }
  flush(canary, sc);
  flush(baseline, sb);
  return { canary, baseline, strata };
}

// ---- histogram ranks → milliseconds ----

const FIRST_MS = LATENCY_BOUNDS_MS[0];
const RATIO = LATENCY_BOUNDS_MS[1] / LATENCY_BOUNDS_MS[0];
const LAST = LATENCY_BUCKETS - 1;

/**
 * The value below which `rank` of the histogram's observations lie, interpolated log-linearly inside the
 * bucket (the same convention as core's histogramQuantile). rank ≤ 0 → 0; a rank in the +Inf bucket or past
 * the total → Infinity when `openTop` (an upper bound must not invent a finite value), else the bucket's edge.
 */
export function rankValue(hist: Float64Array, total: number, rank: number, openTop: boolean): number {
  if (!(rank > 0)) return 0;
  if (rank > total) return openTop ? Infinity : LATENCY_BOUNDS_MS[LAST - 1] * RATIO;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    const c = hist[i];
    if (c === 0) continue;
    if (seen + c >= rank) {
      if (i === LAST && openTop) return Infinity;
      const lo = i === 0 ? FIRST_MS / RATIO : LATENCY_BOUNDS_MS[i - 1];
      const hi = i >= LAST ? lo * RATIO : LATENCY_BOUNDS_MS[i];
      const frac = Math.min(1, Math.max(0, (rank - seen) / c));
      return lo * Math.pow(hi / lo, frac);
    }
    seen += c;
  }
  return openTop ? Infinity : LATENCY_BOUNDS_MS[LAST - 1] * RATIO;
}

/** Share of the histogram's observations above `ms` (interpolated inside the bucket). */
export function shareAbove(hist: Float64Array, total: number, ms: number): number {
  if (total <= 0) return 0;
  let below = 0;
  for (let i = 0; i < hist.length; i++) {
    const lo = i === 0 ? FIRST_MS / RATIO : LATENCY_BOUNDS_MS[i - 1];
    const hi = i >= LAST ? lo * RATIO : LATENCY_BOUNDS_MS[i];
    if (ms >= hi) below += hist[i];
    else {
      if (ms > lo) below += hist[i] * (Math.log(ms / lo) / Math.log(hi / lo));
      break;
    }
  }
  return Math.max(0, 1 - below / total);
}

/** log-spacing of the buckets (ln of the ratio between neighbouring edges) */
export const LOG_BUCKET_RATIO = Math.log(RATIO);
