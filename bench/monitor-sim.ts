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

/** A canary-only regression starting at a random point in the middle of the rollout (40–70 % of it). */
function canaryFrom(make: (from: number, total: number) => TrafficEvent[]): MonitorScenario['events'] {
  return (rng, total) => {
    const from = Math.floor(total * (0.4 + 0.3 * rng.next()));
    return { events: make(from, total), onset: from };
  };
}

/** A disturbance both versions share (the baseline is the reference: none of these may hold the rollout). */
function sharedAt(event: Omit<TrafficEvent, 'from' | 'to' | 'versions'>, seconds: number): MonitorScenario['events'] {
  return (rng, total) => {
    const from = Math.floor(total * (0.3 + 0.5 * rng.next()));
    return { events: [{ from, to: from + seconds, versions: ['baseline', 'canary'], ...event }], onset: null };
  };
}

/**
 * The scenarios of the bench: normal traffic, alone and with disturbances both versions share (any hold is a
 * false one), and canary-only regressions of each shape — step, ramp, spike, variance increase, errors.
 */
export const MONITOR_SCENARIOS: readonly MonitorScenario[] = [
  { name: 'A/A, noisy', regression: false, profile: NORMAL, events: () => ({ events: [], onset: null }) },
  { name: 'A/A + shared 3x slowdown', regression: false, profile: NORMAL, events: sharedAt({ latencyFactor: 3 }, 30) },
  { name: 'A/A + shared 5% errors', regression: false, profile: NORMAL, events: sharedAt({ errorRate: 0.05 }, 30) },
  {
    name: 'canary p95 +100% step',
    regression: true,
    profile: NORMAL,
    events: canaryFrom((from, total) => [{ from, to: total, versions: ['canary'], latencyFactor: 2 }]),
  },
  {
    name: 'canary p95 ramp to +100% over 60 s',
    regression: true,
    profile: NORMAL,
    // six 10 s stairs 1.17×, 1.33× … 2×, then 2× to the end
    events: canaryFrom((from, total) =>
      Array.from({ length: 6 }, (_, k) => ({
        from: from + 10 * k,
        to: k === 5 ? total : from + 10 * (k + 1),
        versions: ['canary'] as const,
        latencyFactor: 1 + (k + 1) / 6,
      })),
    ),
  },
  {
    name: 'canary p95 3x spike for 30 s',
    regression: true,
    profile: NORMAL,
    events: canaryFrom((from) => [{ from, to: from + 30, versions: ['canary'], latencyFactor: 3 }]),
  },
  {
    name: 'canary latency variance up (σ 0.5 → 0.9)',
    regression: true,
    profile: NORMAL,
    events: canaryFrom((from, total) => [{ from, to: total, versions: ['canary'], sigmaFactor: 1.8 }]),
  },
  {
    name: 'canary errors 0.5% -> 5% (10x)',
    regression: true,
    profile: NORMAL,
    events: canaryFrom((from, total) => [{ from, to: total, versions: ['canary'], errorRate: 0.05 }]),
  },
];
