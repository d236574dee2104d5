/**
 * What the traffic can show, before a rollout starts: for the configured steps and the current traffic,
 * when a good canary (one that behaves like the baseline) is expected to leave each step, the time to full
 * promotion, and the smallest error regression the rollback side would catch by the end of each step. The
 * same formulas as the judge's harm bound (analysis/judge/harm.ts) and MDE, applied to the expected counts
 * instead of observed ones — a forecast for `POST /api/v1/rollout/plan` and `canaryd ctl plan`, not a test.
 *
 * Model: requests arrive at `rate` per second; the canary gets the step's weight; both arms fail at the
 * baseline's rates. Evidence is carried across steps (rollout.evidence: rollout). Latency is assumed to
 * decide no later than the error rates (true when latency is measured on many requests; a p99 on few
 * requests can be slower — the live report says so when it is).
 */
import { harmBoundary, normalQuantile } from '../judge/harm.js';
import { HARM_SHARE, ROLLOUT_START_SHARE } from './plan.js';

export interface PlanInput {
  /** requests per second through canaryd (both versions) */
  rate: number;
  /** the baseline's 5xx share and non-success (4xx+5xx) share */
  errorRate: number;
  nonSuccessRate: number;
  steps: readonly number[];
  intervalS: number;
  minRequests: number;
  /** 0: never */
  maxStepS: number;
  maxStepPolicy: 'pause' | 'promote-if-no-harm';
  harmBudget: number;
  finalHarmBudget: number;
  falsePromotionRate: number;
  falseRollbackRate: number;
  maxDegradation: number;
  power: number;
  slo: { maxErrorRate: number; minSuccessRate: number };
}

export interface PlanStep {
  weight: number;
  /** expected seconds at this step (null: not expected to decide at this traffic) */
  seconds: number | null;
  /** what decides it: "interval", "minRequests", "harm bound", or why it does not */
  decidedBy: string;
  /** canary requests seen by the end of the step (since the rollout started) */
  canaryRequests: number | null;
  /** smallest 5xx regression (ratio to baseline) the rollback side catches at `power` by the end of the step */
  mde5xxRatio: number | null;
}

export interface RolloutPlanForecast {
  input: PlanInput;
  steps: PlanStep[];
  /** expected seconds to 100 % for a good canary (null: not expected) */
  secondsToFullPromotion: number | null;
  /** smallest 5xx regression detectable by the time the canary would reach 100 % */
  mde5xxRatio: number | null;
  notes: string[];
}

/** no step is simulated past this (a day) */
const HORIZON_S = 86_400;

export function planRollout(p: PlanInput): RolloutPlanForecast {
  const analysed = p.steps.filter((w) => w < 100);
  const out: PlanStep[] = [];
  const notes: string[] = [];
  let nc = 0; // canary requests so far
  let v5 = 0; // variance of the excess statistic (events), 5xx and non-success
  let vu = 0;
  let total = 0;
  let open = true;
  const alphaHarm = p.falsePromotionRate * HARM_SHARE;
  const alphaFail = p.falseRollbackRate * 0.6 * ROLLOUT_START_SHARE;
  const zb = normalQuantile(p.power);
  const mde = (): number | null => {
    if (nc < 20 || !(p.errorRate > 0)) return null;
    const v = Math.max(v5, p.errorRate * nc);
    const excess = p.maxDegradation * p.errorRate + ((Math.sqrt(2 * Math.log(1 / alphaFail)) + zb) * Math.sqrt(v)) / nc;
    return 1 + excess / p.errorRate;
  };
  for (let k = 0; k < analysed.length; k++) {
    const w = analysed[k] / 100;
    const next = k + 1 < analysed.length ? analysed[k + 1] / 100 : 1;
    const c = p.rate * w;
    if (!open || !(c > 0)) {
      out.push({
        weight: analysed[k],
        seconds: null,
        decidedBy: open ? 'no canary traffic' : 'an earlier step does not decide',
        canaryRequests: null,
        mde5xxRatio: null,
      });
      open = false;
      continue;
    }
    const perS = { n: c, v5: p.errorRate * c * (1 + w / (1 - w)), vu: p.nonSuccessRate * c * (1 + w / (1 - w)) };
    const budget = next >= 1 ? p.finalHarmBudget : p.harmBudget;
    const lim5 = (budget * p.slo.maxErrorRate) / next;
    const limU = (budget * (1 - p.slo.minSuccessRate)) / next;
    const fits = (t: number): boolean => {
      const n = nc + perS.n * t;
      return harmBoundary(v5 + perS.v5 * t, alphaHarm) / n <= lim5 && harmBoundary(vu + perS.vu * t, alphaHarm) / n <= limU;
    };
    // the harm bound only shrinks with time: bisect for the first second it fits
    let hi = 1;
    while (!fits(hi) && hi < HORIZON_S) hi *= 2;
    let seconds: number | null;
    let decidedBy: string;
    if (!fits(hi)) {
      seconds = null;
      decidedBy = 'the harm bound does not fit within a day at this traffic';
    } else {
      let lo = 0;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (fits(mid)) hi = mid;
        else lo = mid;
      }
      const minReqS = Math.ceil(p.minRequests / c);
      seconds = Math.max(p.intervalS, minReqS, hi);
      decidedBy =
        seconds === hi && hi > p.intervalS ? 'harm bound' : seconds === minReqS && minReqS > p.intervalS ? 'minRequests' : 'interval';
      if (p.maxStepS > 0 && seconds > p.maxStepS) {
        decidedBy +=
          p.maxStepPolicy === 'pause'
            ? ` (after maxStepDuration ${p.maxStepS} s: paused for an operator)`
            : ` (beyond maxStepDuration ${p.maxStepS} s: promote-if-no-harm still waits for the harm bound)`;
        if (p.maxStepPolicy === 'pause') open = false;
      }
    }
    if (seconds === null) open = false;
    const t = seconds ?? 0;
    nc += perS.n * t;
    v5 += perS.v5 * t;
    vu += perS.vu * t;
    total += t;
    out.push({
      weight: analysed[k],
      seconds,
      decidedBy,
      canaryRequests: seconds === null ? null : Math.round(nc),
      mde5xxRatio: seconds === null ? null : mde(),
    });
  }
  const done = open && out.every((s) => s.seconds !== null);
  if (!done)
    notes.push(
      'a good canary is not expected to reach 100 % by itself at this traffic: a larger first step, a longer interval, a looser rollout.harmBudget, or more traffic would change it',
    );
  if (!(p.errorRate > 0))
    notes.push('no baseline errors measured: the detectable 5xx regression is not defined (any new errors are caught by the floor)');
  notes.push('latency is assumed to decide no later than the error rates');
  return { input: p, steps: out, secondsToFullPromotion: done ? total : null, mde5xxRatio: done ? mde() : null, notes };
}
