/** Placeholder until the statistical judge lands: every analysis is inconclusive (holds; never acts). */
import type { AnalysisReport, Judge } from '../report.js';

const emptyArm = { requests: 0, errors: 0, errorRate: null, p50Ms: null, p95Ms: null, p99Ms: null, faultedRequests: 0 };

export const judge: Judge = (input) => {
  const count = (ws: typeof input.baseline) => ws.reduce((n, w) => n + w.clean.requests, 0);
  const report: AnalysisReport = {
    at: input.at,
    window: { from: input.from, to: input.at },
    verdict: 'inconclusive',
    hardBreach: false,
    nonInferior: false,
    score: null,
    checks: [],
    arms: { baseline: { ...emptyArm, requests: count(input.baseline) }, canary: { ...emptyArm, requests: count(input.canary) } },
    moreCanaryRequestsNeeded: null,
    reasons: ['no judge configured'],
  };
  return report;
};
