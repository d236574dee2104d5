/**
 * Replays simulated rollouts through AnomalyMonitor, one monitor per candidate detector fed the very same
 * traffic, and reports for each detector how often a normal (A/A) rollout would have been held by a
 * canary-only anomaly, and how often and how fast a real canary regression is caught. This is what the
 * monitor's default detector was chosen on (docs/anomaly.md).
 */
import { AnomalyMonitor } from '../analysis/index.js';
import { Rng, trafficSecond, type TrafficEvent, type TrafficProfile } from './traffic-sim.js';

export interface MonitorScenario {
  name: string;
  /** the canary regresses at some point (detection is the goal); otherwise any hold is a false one */
  regression: boolean;
  profile: TrafficProfile;
  /** events in seconds from the rollout's start; `onset` marks a canary regression to be caught */
  events: (rng: Rng, totalSeconds: number) => { events: TrafficEvent[]; onset: number | null };
}

export interface MonitorSimOptions {
  steps: readonly number[];
  stepSeconds: number;
  windowSeconds: number;
  rollouts: number;
  seed: number;
}

export interface MonitorSimResult {
  detector: string;
  scenario: string;
  rollouts: number;
  /** rollouts with a canary-only anomaly before the onset (all of them for A/A) */
  falseHolds: number;
  /** rollouts where a canary-only anomaly was flagged after the onset */
  detected: number;
  /** median seconds from the onset to the first flag, over detected rollouts */
  medianDelayS: number | null;
}

export function simulateMonitor(scenario: MonitorScenario, detectors: readonly string[], o: MonitorSimOptions): MonitorSimResult[] {
  const total = o.steps.length * o.stepSeconds;
  const falseHolds = new Array<number>(detectors.length).fill(0);
  const detected = new Array<number>(detectors.length).fill(0);
  const delays: number[][] = detectors.map(() => []);
  const t0 = Date.UTC(2024, 0, 1);
  for (let r = 0; r < o.rollouts; r++) {
    const rng = new Rng(o.seed + 7919 * r);
    const { events, onset } = scenario.events(rng, total);
    const monitors = detectors.map((detector) => new AnomalyMonitor({ policy: 'hold', windowSeconds: o.windowSeconds, detector }));
    const firstFlag = new Array<number | null>(detectors.length).fill(null);
    for (let s = 0; s < total; s++) {
      const weight = o.steps[Math.floor(s / o.stepSeconds)];
      const w = trafficSecond(rng, t0 + s * 1000, s, weight, scenario.profile, events);
      monitors.forEach((m, i) => {
        const checks = m.observe({ at: t0 + (s + 1) * 1000, baseline: [w.baseline], canary: [w.canary], canaryWeight: weight });
        if (firstFlag[i] === null && checks.some((c) => c.status === 'marginal' || c.status === 'fail')) firstFlag[i] = s + 1;
      });
    }
    firstFlag.forEach((f, i) => {
      if (f === null) return;
      if (onset === null || f < onset) falseHolds[i]++;
      else {
        detected[i]++;
        delays[i].push(f - onset);
      }
    });
  }
  return detectors.map((detector, i) => ({
    detector,
    scenario: scenario.name,
    rollouts: o.rollouts,
    falseHolds: falseHolds[i],
    detected: detected[i],
    medianDelayS: median(delays[i]),
  }));
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

const NORMAL: TrafficProfile = { rps: 100, medianMs: 50, sigma: 0.5, tail: 0.01, errorRate: 0.005, drift: 0.3, driftPeriodS: 1200 };

/** The scenarios of the bench: normal traffic (with and without a shared slowdown) and two regressions. */
export const MONITOR_SCENARIOS: readonly MonitorScenario[] = [
  { name: 'A/A, noisy', regression: false, profile: NORMAL, events: () => ({ events: [], onset: null }) },
  {
    name: 'A/A + shared 3x slowdown',
    regression: false,
    profile: NORMAL,
    events: (rng, total) => {
      const from = Math.floor(total * (0.3 + 0.5 * rng.next()));
      return { events: [{ from, to: from + 30, versions: ['baseline', 'canary'], latencyFactor: 3 }], onset: null };
    },
  },
  {
    name: 'canary p95 +100% mid-rollout',
    regression: true,
    profile: NORMAL,
    events: (rng, total) => {
      const from = Math.floor(total * (0.4 + 0.3 * rng.next()));
      return { events: [{ from, to: total, versions: ['canary'], latencyFactor: 2 }], onset: from };
    },
  },
  {
    name: 'canary errors 0.5% -> 5% mid-rollout',
    regression: true,
    profile: NORMAL,
    events: (rng, total) => {
      const from = Math.floor(total * (0.4 + 0.3 * rng.next()));
      return { events: [{ from, to: total, versions: ['canary'], errorRate: 0.05 }], onset: from };
    },
  },
];
