/**
 * The judge: a pure function from one step's window data and the settings to an AnalysisReport
 * (analysis/report.ts). No clock, no I/O, no hidden state: the same input gives a deep-equal report, so
 * every decision replays from the audit log. Peeked at every analysisInterval on growing data, it keeps
 * P(a canary within the margin ever gets `fail` or `hardBreach` during the step) ≤ settings.alpha:
 *
 *   alpha budget (fail side, union bound over the checks that can fail on their own evidence)
 *     compare.errorRate 60 %   compare.successRate 10 %   compare.p95 10 %   compare.p99 10 %
 *     compare.latency 10 %     SLO checks 0 % (they fail only together with their comparison)
 *   (errors get the most: the fastest possible rollback of an erroring canary is what matters most, and a
 *   latency regression beyond the margin cannot be promoted, so it is caught later at worst, not missed)
 *   promote side: each comparison's non-inferiority at the full promoteAlpha (default alpha) — a canary worse than the margin on
 *     one metric is promoted only if that metric's test errs, so no split is needed there.
 *
 * Verdict: fail  ← a hard breach, a failing critical check, a failing anomaly check, or a failing check
 *                  with the score under scoring.marginal;
 *          pass  ← nothing fails, nothing holds (a shared SLO breach still on, anomaly 'marginal') and
 *                  score ≥ scoring.pass;
 *          inconclusive otherwise. nonInferior ← every comparison shown within the promote margin.
 *
 * Two margins: the fail side always tests against δ = settings.maxDegradation; the promote side against
 * δ_k = settings.promoteMaxDegradation (≥ δ, default δ), the step's exposure-scaled margin.
 * Score (Kayenta-style): 100 × mean over comparisons and Prometheus-backed checks (input.metrics) with data
 * of pass 1, marginal ½, fail 0. A metric check without data holds the step (never a pass).
 */
import type { AnalysisReport, CheckResult, Judge, JudgeInput, JudgeSettings } from '../report.js';
import { aggregate, rankValue, type ArmTotals } from './aggregate.js';
import { compareChecks, type CompareBudget, type CompareMargins } from './compare.js';
import { sloChecks, type RecentCanary } from './slo.js';
import { CanarydError, LATENCY_BUCKETS, type VersionSummary } from '../../core/index.js';
import { int, ms, pct } from './format.js';
import { detectableEffects, harmBound } from './harm.js';
import { forecastFor, summaryLine } from './summary.js';

/** Comparisons a harm metric can stand in for (the union of two tests per metric: shown within the margin, or harm bounded). */
const HARM_COVERS: Record<string, string> = {
  'compare.errorRate': 'errorRate',
  'compare.successRate': 'successRate',
  'compare.p95': 'p95',
  'compare.p99': 'p99',
};

export const FAIL_BUDGET_SHARE: Readonly<CompareBudget> = Object.freeze({
  errorRate: 0.6,
  successRate: 0.1,
  p95: 0.1,
  p99: 0.1,
  latency: 0.1,
});

/** A margin as a percentage for sentences: "10 %", "100 %", "7.5 %". */
function marginPct(d: number): string {
  const v = Math.round(d * 1000) / 10;
  return `${v} %`;
}

const STATUS_VALUE: Record<CheckResult['status'], number | null> = { pass: 1, marginal: 0.5, fail: 0, nodata: null };

function summary(a: ArmTotals): VersionSummary {
  const n = a.requests;
  const q = (p: number): number | null => (n > 0 ? Math.round(rankValue(a.hist, n, p * n, false) * 1000) / 1000 : null);
  return {
    requests: n,
    errors: a.errors,
    errorRate: n > 0 ? a.errors / n : null,
    p50Ms: q(0.5),
    p95Ms: q(0.95),
    p99Ms: q(0.99),
    faultedRequests: a.faultedRequests,
  };
}

/** The canary's last sloHoldWindowMs of data: counts from the strata, the histogram summed on demand. */
function recentCanary(input: JudgeInput, st: ReturnType<typeof aggregate>['strata'], settings: JudgeSettings): RecentCanary {
  const ms = settings.sloHoldWindowMs ?? 60_000;
  const from = Math.max(input.from, input.at - ms);
  let requests = 0;
  let errors = 0;
  let nonSuccess = 0;
  for (let w = st.count - 1; w >= 0 && st.start[w] >= from; w--) {
    requests += st.nc[w];
    errors += st.ec[w];
    nonSuccess += st.uc[w];
  }
  const hist = (): Float64Array => {
    const h = new Float64Array(LATENCY_BUCKETS);
    for (const w of input.canary) {
      if (w.start < from || w.start >= input.at) continue;
      for (const c of settings.countFaulted ? [w.clean, w.faulted] : [w.clean])
        for (let i = 0; i < h.length && i < c.latency.length; i++) h[i] += c.latency[i];
    }
    return h;
  };
  return { ms, requests, errors, nonSuccess, hist };
}

/**
 * Both margins from the settings. The promote-side floors scale with the margin (δ_k/δ): the floor is an
 * absolute tolerance on the canary's excess, and the exposure argument (extra harm = weight × excess)
 * applies to it as to the ratio; it is capped at the SLO limit it is derived from (a canary is never
 * promoted on floor grounds with a rate the SLO forbids) and never below the fail floor.
 */
function margins(settings: JudgeSettings): CompareMargins {
  const delta = settings.maxDegradation;
  const deltaNi = settings.promoteMaxDegradation ?? delta;
  if (!(deltaNi >= delta))
    throw new CanarydError('CANARYD_ERR_INTERNAL', `judge settings: promoteMaxDegradation ${deltaNi} must be ≥ maxDegradation ${delta}`);
  const floors = {
    errorRate: settings.errorRateFloor ?? delta * settings.slo.maxErrorRate,
    nonSuccess: settings.nonSuccessFloor ?? delta * (1 - settings.slo.minSuccessRate),
  };
  const factor = delta > 0 ? deltaNi / delta : 1;
  const scaled = (floor: number, limit: number): number => (factor === 1 ? floor : Math.max(floor, Math.min(floor * factor, limit)));
  const floorsNi = {
    errorRate: scaled(floors.errorRate, settings.slo.maxErrorRate),
    nonSuccess: scaled(floors.nonSuccess, 1 - settings.slo.minSuccessRate),
  };
  const basis = settings.promoteMarginBasis ?? (deltaNi === delta ? 'fixed margin' : 'promoteMaxDegradation');
  return { delta, deltaNi, floors, floorsNi, basis };
}

/** The harm bound in one sentence: each metric's bound against its limit at the next weight. */
function harmText(h: NonNullable<AnalysisReport['harm']>): string {
  const parts = h.metrics.map((x) => {
    const f = x.unit === 'rate' ? pct : ms;
    return `${x.name} excess ≤ ${x.upper === null ? 'n/a' : f(x.upper)} vs ${f(x.limit)} ${x.within ? '✓' : '✗'}`;
  });
  return `harm bound at the next weight ${Math.round(h.nextWeight * 1000) / 10} % (harmBudget ${h.budget}, α ${h.alpha}): ${parts.join('; ')}`;
}

export const judge: Judge = (input: JudgeInput, settings: JudgeSettings): AnalysisReport => {
  const agg = aggregate(input.baseline, input.canary, input.from, input.at, settings.countFaulted);
  const alpha = settings.alpha;
  const critical = new Set(settings.critical);
  const budget: CompareBudget = {
    errorRate: alpha * FAIL_BUDGET_SHARE.errorRate,
    successRate: alpha * FAIL_BUDGET_SHARE.successRate,
    p95: alpha * FAIL_BUDGET_SHARE.p95,
    p99: alpha * FAIL_BUDGET_SHARE.p99,
    latency: alpha * FAIL_BUDGET_SHARE.latency,
  };
  const m = margins(settings);
  const alphaNi = settings.promoteAlpha ?? alpha;
  if (!(alpha > 0 && alpha < 1 && alphaNi > 0 && alphaNi < 1))
    throw new CanarydError('CANARYD_ERR_INTERNAL', `judge settings: alpha ${alpha} and promoteAlpha ${alphaNi} must be in (0, 1)`);
  const stepFrom = input.stepFrom ?? input.from;
  const cmp = compareChecks(agg, m, budget, alphaNi, critical, stepFrom, settings.failMix);
  const compareStatus: Record<string, CheckResult['status']> = {};
  for (const c of cmp.checks) compareStatus[c.name] = c.status;
  const slo = sloChecks(agg.canary, agg.canary.hist, settings, compareStatus, critical, recentCanary(input, agg.strata, settings));
  const anomalies = (input.anomalies ?? []).map((c) => ({ ...c, critical: c.critical || critical.has(c.name) }));
  const metrics = (input.metrics ?? []).map((c) => ({ ...c, critical: c.critical || critical.has(c.name) }));
  const checks: CheckResult[] = [...slo, ...cmp.checks, ...anomalies, ...metrics];

  // the score: comparisons and Prometheus-backed checks with data
  let sum = 0;
  let counted = 0;
  for (const c of [...cmp.checks, ...metrics]) {
    const v = STATUS_VALUE[c.status];
    if (v !== null) {
      sum += v;
      counted++;
    }
  }
  const score = counted > 0 ? Math.round((1000 * sum) / counted) / 10 : null;
  const failing = checks.filter((c) => c.status === 'fail');
  const hardBreach = failing.some((c) => c.hard);
  // a Prometheus-backed check without data holds: missing evidence never promotes
  const holding = checks.filter(
    (c) => (c.status === 'marginal' && c.kind !== 'comparison') || (c.status === 'nodata' && c.kind === 'metric'),
  );
  const fail =
    hardBreach ||
    failing.some((c) => c.critical || c.kind === 'anomaly') ||
    (failing.length > 0 && score !== null && score < settings.scoring.marginal);
  const pass = !fail && failing.length === 0 && holding.length === 0 && score !== null && score >= settings.scoring.pass;
  const nonInferior = cmp.checks.every((c) => c.status === 'pass');
  const harm = settings.harm ? harmBound(agg, cmp.checks, { ...settings.harm, slo: settings.slo }) : null;
  const harmWithin = new Set<string>(harm?.metrics.filter((x) => x.within).map((x) => x.name) ?? []);
  const clear = !fail && failing.length === 0 && holding.length === 0;
  const shownOrBounded = cmp.checks.every(
    (c) => c.status === 'pass' || (harm !== null && HARM_COVERS[c.name] !== undefined && harmWithin.has(HARM_COVERS[c.name])),
  );
  const promotable = (pass && nonInferior) || (harm !== null && clear && score !== null && shownOrBounded);
  const verdict: AnalysisReport['verdict'] = fail ? 'fail' : pass || promotable ? 'pass' : 'inconclusive';

  let more: number | null = null;
  if (!promotable && (verdict === 'inconclusive' || (verdict === 'pass' && !nonInferior))) {
    more = 0;
    for (const c of cmp.checks) if (c.status !== 'pass' && c.status !== 'fail') more = Math.max(more, cmp.needed.get(c.name) ?? 0);
  }

  const reasons: string[] = [];
  const undecided = cmp.checks.filter((c) => c.status === 'marginal' || c.status === 'nodata').length;
  const scoreText =
    score === null ? 'no score (no data)' : `score ${score} (pass ≥ ${settings.scoring.pass}, marginal ≥ ${settings.scoring.marginal})`;
  const promoteText = `the promote margin ${marginPct(m.deltaNi)} (${m.basis}; fail margin ${marginPct(m.delta)})`;
  if (verdict === 'fail')
    reasons.push(
      `verdict fail${hardBreach ? ' (hard breach: roll back now)' : ''}: ${failing.map((c) => c.name).join(', ')} failed; ${scoreText}`,
    );
  else if (verdict === 'pass')
    reasons.push(
      `verdict pass: ${scoreText}; ${nonInferior ? `every comparison shown within ${promoteText}` : promotable ? `${undecided} comparison(s) not shown within ${promoteText} but bounded by the harm bound at the next weight (${Math.round((harm?.nextWeight ?? 1) * 1000) / 10} %)` : `${undecided} comparison(s) not yet shown within ${promoteText}`}`,
    );
  else
    reasons.push(
      `verdict inconclusive: ${scoreText}; ${undecided} of ${cmp.checks.length} comparisons undecided (fail margin ${marginPct(m.delta)}, promote margin ${marginPct(m.deltaNi)}: ${m.basis})${holding.length ? `; held by ${holding.map((c) => c.name).join(', ')}` : ''}${more !== null && more > 0 ? `; ~${int(more)} more canary requests needed` : ''}`,
    );
  if (promotable && !nonInferior && harm !== null) reasons.push(harmText(harm));
  const order: Record<CheckResult['status'], number> = { fail: 0, marginal: 1, nodata: 2, pass: 3 };
  for (const c of [...checks].sort((x, y) => order[x.status] - order[y.status]))
    if (c.status !== 'pass' || verdict === 'pass') reasons.push(c.message);

  let stepCanary = 0;
  for (let w = agg.strata.count - 1; w >= 0 && agg.strata.start[w] >= stepFrom; w--) stepCanary += agg.strata.nc[w];
  if (stepFrom <= input.from) stepCanary = agg.canary.requests;
  const mde = detectableEffects(agg, cmp.checks, m.delta, { errorRate: budget.errorRate, p95: budget.p95 }, settings.power ?? 0.8);
  const arms = { baseline: summary(agg.baseline), canary: summary(agg.canary) };
  const shiftNeed = cmp.checks.find((c) => c.name === 'compare.latency')?.status === 'pass' ? 0 : (cmp.needed.get('compare.latency') ?? 0);
  const harmNeed = harm === null || harm.neededCanaryRequests === null ? null : Math.max(harm.neededCanaryRequests, shiftNeed);
  const forecast = forecastFor({ decided: verdict === 'fail' || promotable, more, harmNeed, canaryRate: input.canaryRate ?? null });
  if (harm !== null && !promotable && verdict !== 'fail') reasons.splice(1, 0, harmText(harm));
  return {
    at: input.at,
    window: { from: input.from, to: input.at },
    verdict,
    hardBreach,
    criticalBreach: failing.some((c) => c.critical && c.kind === 'comparison'),
    nonInferior,
    score,
    checks,
    arms,
    moreCanaryRequestsNeeded: more,
    reasons,
    promotable,
    stepCanaryRequests: stepCanary,
    harm,
    mde,
    forecast,
    summary: summaryLine({
      verdict,
      promotable,
      hardBreach,
      failing: failing.map((c) => c.name),
      holding: holding.map((c) => c.name),
      arms,
      harm,
      forecast,
      nonInferior,
    }),
  };
};
