/**
 * `npm run bench:analysis`: rollouts of simulated traffic (bench/analysis-sim.ts) driven through the
 * controller's rules (bench/analysis-rollout.ts) by canaryd's judge and by reference judges side by side,
 * ≥ 1,000 rollouts per scenario, seeded and reproducible, spread over worker threads.
 *
 *   node dist/bench/analysis-bench.js [--rollouts 1000] [--rate 20000] [--workers 2] [--seed 1]
 *                                     [--scenarios a,b] [--judges canaryd,canaryd-fixed,flagger-docs,...]
 *                                     [--max-step 600] [--alpha-plan equal|front]
 *
 * Prints, per judge and scenario: the share of rollouts rolled back / promoted / held, the median canary
 * requests and seconds to a rollback, the median step it happened at, the canary's median excess 5xx (its
 * harm beyond the baseline's rate), and the median time to full promotion. For good scenarios the
 * rollback share is the false-rollback rate; for bad ones it is the detection rate. `canaryd` is canaryd
 * with its defaults (promote margin scaled by exposure, rollout.evidence step, harm bound, maxStepPolicy
 * promote-if-no-harm), `canaryd-carry` the same with rollout.evidence rollout, `canaryd-v1` the rules before
 * issue 12, `canaryd-fixed` those with the fixed margin. A second table gives, per scenario, the share
 * promoted beside the minimum detectable effect canaryd's last report announced.
 */
import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { judge, type AlphaPlan } from '../analysis/index.js';
import { flaggerStyle, kayentaStyle } from './analysis-references.js';
import { runRollout, type BenchJudge, type RolloutPlan, type RolloutResult } from './analysis-rollout.js';
import { SCENARIOS, latencyCdf, newEnvironment, simulateSecond } from './analysis-sim.js';
import type { WindowRecord } from '../core/index.js';

/** p-quantile of the base latency model (bisection on its CDF) */
function modelQuantile(p: number): number {
  let lo = 1;
  let hi = 10000;
  for (let i = 0; i < 60; i++) {
    const mid = Math.sqrt(lo * hi);
    if (latencyCdf(mid, 1) < p) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** canaryd's default rollout.alphaPlan (config/sections/rollout.ts) */
const DEFAULT_ALPHA_PLAN: AlphaPlan = 'front';

const SLO = { maxErrorRate: 0.02, maxP95Ms: 500, maxP99Ms: 1000, minSuccessRate: 0.97 };
const MARGIN = 0.1;

function judges(): BenchJudge[] {
  const p99 = modelQuantile(0.99);
  return [
    { kind: 'sequential', name: 'canaryd', judge, promotion: { mode: 'exposure', cap: 10 } },
    { kind: 'sequential', name: 'canaryd-carry', judge, promotion: { mode: 'exposure', cap: 10 }, evidence: 'rollout' },
    { kind: 'sequential', name: 'canaryd-v1', judge, promotion: { mode: 'exposure', cap: 10 }, pace: false },
    { kind: 'sequential', name: 'canaryd-fixed', judge, promotion: { mode: 'fixed', cap: 10 }, pace: false },
    { kind: 'interval', name: 'flagger-docs', judge: flaggerStyle('flagger-docs', 0.01, 500) },
    { kind: 'interval', name: 'flagger-margin', judge: flaggerStyle('flagger-margin', 0.01 * (1 + MARGIN), p99 * (1 + MARGIN)) },
    { kind: 'interval', name: 'flagger-slo', judge: flaggerStyle('flagger-slo', SLO.maxErrorRate, SLO.maxP99Ms) },
    { kind: 'interval', name: 'kayenta', judge: kayentaStyle('kayenta', MARGIN, 95, 75) },
  ];
}

const STEPS = [5, 10, 25, 50, 75, 100];

function plan(args: Args): RolloutPlan {
  return {
    steps: STEPS,
    intervalS: 60,
    minRequests: 200,
    failureLimit: 3,
    maxStepS: args.maxStep,
    falseRollbackRate: 0.01,
    alphaPlan: args.alphaPlan,
    promotion: { mode: 'exposure', cap: 10 },
    rate: args.rate,
    // canaryd's defaults (config/sections/pace.ts)
    pace: { harmBudget: 0.5, finalHarmBudget: 0.25, falsePromotionRate: 0.05, maxStepDurationS: 300, evidence: 'step' },
    settings: {
      slo: SLO,
      maxDegradation: MARGIN,
      scoring: { pass: 95, marginal: 75 },
      critical: ['slo.errorRate', 'compare.errorRate'],
      countFaulted: false,
    },
  };
}

interface Args {
  rollouts: number;
  rate: number;
  workers: number;
  seed: number;
  maxStep: number;
  scenarios: string[] | null;
  judges: string[] | null;
  chunk: number;
  alphaPlan: AlphaPlan;
}

function parseArgs(argv: string[]): Args {
  const get = (k: string): string | undefined => {
    const i = argv.indexOf(`--${k}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    rollouts: Number(get('rollouts') ?? 1000),
    rate: Number(get('rate') ?? 20000),
    workers: Number(get('workers') ?? Math.min(2, availableParallelism())),
    seed: Number(get('seed') ?? 1),
    maxStep: Number(get('max-step') ?? 600),
    scenarios: get('scenarios')?.split(',') ?? null,
    judges: get('judges')?.split(',') ?? null,
    chunk: Number(get('chunk') ?? 50),
    alphaPlan: (get('alpha-plan') ?? DEFAULT_ALPHA_PLAN) === 'front' ? 'front' : 'equal',
  };
}

interface Task {
  judge: number;
  scenario: number;
  from: number;
  to: number;
}

function seedOf(base: number, scenario: number, i: number): number {
  return (Math.imul(base, 0x9e3779b1) ^ Math.imul(scenario + 1, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
}

function runTask(args: Args, t: Task): RolloutResult[] {
  const js = judges();
  const p = plan(args);
  const out: RolloutResult[] = [];
  for (let i = t.from; i < t.to; i++) out.push(runRollout(js[t.judge], SCENARIOS[t.scenario], p, seedOf(args.seed, t.scenario, i)));
  return out;
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function fmtPct(k: number, n: number): string {
  return `${((100 * k) / n).toFixed(1)} %`;
}
/** a (median) step index as its weight, "5 %" (between two steps for an even count's median: "5–10 %") */
function fmtStep(x: number | null): string {
  if (x === null) return '–';
  const steps = STEPS;
  return Number.isInteger(x) ? `${steps[x]} %` : `${steps[Math.floor(x)]}–${steps[Math.ceil(x)]} %`;
}
function fmtN(x: number | null): string {
  return x === null ? '–' : Math.round(x).toLocaleString('en-US');
}

/** Cost of one judge call over a full step: `windows` one-second windows per arm, 163 buckets each. */
function judgeCost(args: Args, windows: number): { meanMs: number; p99Ms: number } {
  const env = newEnvironment(args.seed, args.rate);
  const baseline: WindowRecord[] = [];
  const canary: WindowRecord[] = [];
  for (let t = 0; t < windows; t++) {
    const w = simulateSecond(env, SCENARIOS[0], t, 5);
    baseline.push(w.baseline);
    canary.push(w.canary);
  }
  const p = plan(args);
  const settings = { ...p.settings, alpha: 0.002 };
  const input = { at: windows * 1000, from: 0, baseline, canary };
  for (let i = 0; i < 50; i++) judge(input, settings);
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    judge(input, settings);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { meanMs: times.reduce((a, x) => a + x, 0) / times.length, p99Ms: times[Math.floor(times.length * 0.99)] };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  for (const w of [60, 600, 1800]) {
    const c = judgeCost(args, w);
    console.log(`judge call over ${w} windows per arm: mean ${c.meanMs.toFixed(3)} ms, p99 ${c.p99Ms.toFixed(3)} ms`);
  }
  const allJudges = judges();
  const jIdx = allJudges.map((_, i) => i).filter((i) => !args.judges || args.judges.includes(allJudges[i].name));
  const sIdx = SCENARIOS.map((_, i) => i).filter((i) => !args.scenarios || args.scenarios.some((s) => SCENARIOS[i].name.startsWith(s)));
  const tasks: Task[] = [];
  // canaryd tasks first (the slow ones), so the pool stays busy to the end
  for (const j of jIdx)
    for (const s of sIdx)
      for (let f = 0; f < args.rollouts; f += args.chunk)
        tasks.push({ judge: j, scenario: s, from: f, to: Math.min(args.rollouts, f + args.chunk) });
  const results = new Map<string, RolloutResult[]>();
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let running = 0;
    let done = 0;
    const file = fileURLToPath(import.meta.url);
    const startWorker = (): void => {
      const w = new Worker(file, { workerData: { args } });
      const feed = (): void => {
        if (next >= tasks.length) {
          void w.terminate();
          if (--running === 0) resolve();
          return;
        }
        w.postMessage(tasks[next++]);
      };
      w.on('message', (m: { task: Task; out: RolloutResult[] }) => {
        done++;
        if (done % Math.max(1, Math.floor(tasks.length / 20)) === 0)
          process.stderr.write(`  ${done}/${tasks.length} tasks, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
        const key = `${m.task.judge}/${m.task.scenario}`;
        const arr = results.get(key) ?? [];
        arr.push(...m.out);
        results.set(key, arr);
        feed();
      });
      w.on('error', reject);
      running++;
      feed();
    };
    for (let i = 0; i < Math.max(1, args.workers); i++) startWorker();
  });
  const seconds = (performance.now() - started) / 1000;
  const lines: string[] = [];
  lines.push(
    `| scenario | judge | rolled back | promoted | held | median canary req. at detection / rollback | median s to detection / rollback | median step of rollback / held | median excess canary 5xx | median s to full promotion |`,
  );
  lines.push(`|---|---|---:|---:|---:|---:|---:|---:|---:|---:|`);
  for (const s of sIdx) {
    for (const j of jIdx) {
      const rs = results.get(`${j}/${s}`) ?? [];
      const rb = rs.filter((r) => r.outcome === 'rolledback');
      const pr = rs.filter((r) => r.outcome === 'promoted');
      const hd = rs.filter((r) => r.outcome === 'held');
      const held = hd.length;
      lines.push(
        `| ${SCENARIOS[s].name} (${SCENARIOS[s].kind}) | ${allJudges[j].name} | ${fmtPct(rb.length, rs.length)} | ${fmtPct(pr.length, rs.length)} | ${fmtPct(held, rs.length)} | ${fmtN(median(rb.map((r) => r.detectedAt ?? r.canaryRequests)))} / ${fmtN(median(rb.map((r) => r.canaryRequests)))} | ${fmtN(median(rb.map((r) => r.detectedS ?? r.seconds)))} / ${fmtN(median(rb.map((r) => r.seconds)))} | ${fmtStep(median(rb.map((r) => r.step)))} / ${fmtStep(median(hd.map((r) => r.step)))} | ${fmtN(median(rs.map((r) => r.excessErrors)))} | ${fmtN(median(pr.map((r) => r.seconds)))} |`,
      );
    }
  }
  console.log(lines.join('\n'));
  // what the traffic could show: the MDE canaryd's last report announced, beside the share promoted
  const mdeLines: string[] = [];
  for (const j of jIdx) {
    if (allJudges[j].kind !== 'sequential') continue;
    for (const s of sIdx) {
      const rs = results.get(`${j}/${s}`) ?? [];
      const checks = [...new Set(rs.flatMap((r) => Object.keys(r.mde ?? {})))].sort();
      const cell = (c: string): string => {
        const xs = rs.map((r) => r.mde?.[c]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
        const m = median(xs);
        return `${c} ${m === null ? '–' : `×${m.toFixed(2)}`}`;
      };
      const pr = rs.filter((r) => r.outcome === 'promoted').length;
      mdeLines.push(`| ${SCENARIOS[s].name} | ${allJudges[j].name} | ${fmtPct(pr, rs.length)} | ${checks.map(cell).join('; ')} |`);
    }
  }
  if (mdeLines.length > 0) {
    console.log('\n| scenario | judge | promoted | median MDE announced in the last report (ratio to baseline) |');
    console.log('|---|---|---:|---|');
    console.log(mdeLines.join('\n'));
  }
  console.log(
    `\n${args.rollouts} rollouts per judge and scenario, ${args.rate} req/s (±30 % diurnal), steps 5/10/25/50/75/100, interval 60 s, minRequests 200, failureLimit 3, maxStep ${args.maxStep} s, falseRollbackRate 1 % (${args.alphaPlan} split over steps), margin 10 % (canaryd: promote margin scaled by exposure, cap 10×; canaryd-fixed: 10 % at every step), rollout.evidence step (canaryd-carry: rollout), harmBudget 0.5, finalHarmBudget 0.25, falsePromotionRate 5 %, maxStepDuration 300 s promote-if-no-harm, seed ${args.seed}; ${args.workers} workers, ${seconds.toFixed(0)} s wall, node ${process.version}`,
  );
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  const { args } = workerData as { args: Args };
  parentPort!.on('message', (task: Task) => parentPort!.postMessage({ task, out: runTask(args, task) }));
}
