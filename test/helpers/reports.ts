/** Hand-made AnalysisReports for state-machine and controller tests (the judge itself is tested on data). */
import type { AnalysisReport, Verdict } from '../../analysis/index.js';

export function report(
  verdict: Verdict,
  opts: { nonInferior?: boolean; hardBreach?: boolean; canaryRequests?: number; at?: number; reason?: string } = {},
): AnalysisReport {
  const arm = (requests: number) => ({ requests, errors: 0, errorRate: 0, p50Ms: 10, p95Ms: 20, p99Ms: 30, faultedRequests: 0 });
  return {
    at: opts.at ?? 0,
    window: { from: 0, to: opts.at ?? 0 },
    verdict,
    hardBreach: opts.hardBreach ?? false,
    nonInferior: opts.nonInferior ?? verdict === 'pass',
    score: verdict === 'pass' ? 100 : verdict === 'fail' ? 0 : null,
    checks: [
      {
        name: 'compare.errorRate',
        kind: 'comparison',
        status: verdict === 'inconclusive' ? 'nodata' : verdict,
        critical: true,
        hard: false,
        message: opts.reason ?? `test ${verdict}`,
      },
    ],
    arms: { baseline: arm(10_000), canary: arm(opts.canaryRequests ?? 1_000) },
    moreCanaryRequestsNeeded: verdict === 'inconclusive' ? 500 : null,
    reasons: [opts.reason ?? `test verdict ${verdict}`],
  };
}
