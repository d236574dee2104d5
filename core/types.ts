/**
 * Shared vocabulary of canaryd. The proxy produces Observations and window records; the analysis engine
 * reads WindowRecords and produces Decisions that carry new Weights. Neither side imports the other:
 * they meet here, and the composition root (sidecar.ts) wires them together.
 */

export type VersionName = 'baseline' | 'canary';
export const VERSION_NAMES: readonly VersionName[] = ['baseline', 'canary'];

/** How a proxied request ended, seen from canaryd. Gateway outcomes are produced by canaryd itself. */
export type Outcome =
  | 'ok' // upstream answered (any status)
  | 'refused' // connect refused / unreachable -> 502
  | 'reset' // connection reset or closed mid-exchange -> 502
  | 'timeout' // connect, headers or body timeout -> 504
  | 'client_abort' // the client went away before the response ended
  | 'fault' // answered by an injected fault, upstream never called
  | 'bad_request'; // answered by canaryd before routing (400, OPTIONS *): not attributed to any version

/** One finished request, as the proxy records it. */
export interface Observation {
  version: VersionName;
  status: number;
  durationMs: number;
  outcome: Outcome;
  /** true when a fault rule touched this request (delay, abort, throttle, ...). Counted apart. */
  faulted: boolean;
  /**
   * A gRPC call's outcome, 0..16 (core/grpc.ts): the grpc-status it ended with, or the one a gRPC client
   * derives when there was none (docs/proxy.md "gRPC"). Absent (or -1) for every request that is not gRPC.
   */
  grpcStatus?: number;
}

/**
 * One version's numbers over a span of windows, as people read them: the live snapshot (admin/events) and
 * the analysis report's arms (analysis/report.ts) both show this shape, so the dashboard, the CLI and the
 * audit log read one type. Latency quantiles come from the shared bucket layout (core/latency.ts).
 */
export interface VersionSummary {
  requests: number;
  /** 5xx responses (the report counts the errors its judge counts) */
  errors: number;
  /** errors / requests, null without requests */
  errorRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** requests touched by an injected fault */
  faultedRequests: number;
}

/** Canary weight in percent, 0..100 (fractions allowed). Baseline gets the rest. */
export interface Weights {
  canary: number;
}

/**
 * Counts for one version over one time window. Status classes index 0..4 = 1xx..5xx.
 * `latency[i]` counts requests whose duration fell in bucket i of LATENCY_BOUNDS_MS.
 */
export interface WindowCounts {
  requests: number;
  statusClass: [number, number, number, number, number];
  /** 502/503/504 produced by canaryd because the upstream failed (subset of statusClass[4]). */
  gatewayErrors: number;
  latency: Uint32Array;
  latencySumMs: number;
}

/** One window of one version: clean traffic and fault-touched traffic kept apart. */
export interface WindowRecord {
  version: VersionName;
  /** epoch ms of the window's start (inclusive) */
  start: number;
  /** window length in ms */
  durationMs: number;
  clean: WindowCounts;
  faulted: WindowCounts;
}

/**
 * Where analysis gets its numbers. In-process today (the proxy's windowed record); a Prometheus-backed
 * source could serve a fleet later. Windows are returned oldest first and are copies the caller may keep.
 */
export interface MetricSource {
  windows(version: VersionName, fromMs: number, toMs: number): WindowRecord[];
  /** window length in ms */
  readonly windowMs: number;
}

/** The router's weight and pin table. Only the traffic state (traffic/) drives it; everyone else asks traffic/. */
export interface TrafficControl {
  getWeights(): Weights;
  setWeights(weights: Weights, reason: string): void;
  /**
   * Suspend (or re-enable) every routing rule and flag that sends traffic to the canary, so that after a
   * rollback no request reaches it. Applied synchronously: the next request routed sees it. Optional for
   * splitters without rules.
   */
  setCanaryPinsSuspended?(suspended: boolean, reason: string): void;
  /** names of the rules and flags that send traffic to the canary (those a suspension affects) */
  canaryPins?(): string[];
}

export type DecisionAction = 'PROMOTE' | 'CONTINUE' | 'ROLLBACK';
