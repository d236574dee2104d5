/**
 * `canaryd ctl watch`: a live terminal view from the event stream — the rollout's progress bar over its
 * steps, per-version rate / error rate / latency from the per-second snapshots, the current analysis
 * verdicts and recent events. Redraws in place on a TTY; prints one summary line per second otherwise.
 * `--count N` stops after N frames (scripts, tests). Reconnects if the stream drops.
 */
import type { AnalysisReport, CanarydEvent, StatusView } from '../../contract/index.js';
import { AdminClient, CtlError } from './client.js';
import { ms, num, pct, progressBar, stepsOf, table, time } from './format.js';

type SnapshotEvent = Extract<CanarydEvent, { type: 'snapshot' }>;

interface View {
  status: StatusView | null;
  analysis: AnalysisReport | null;
  analysisMissing: boolean;
  snapshot: SnapshotEvent | null;
  events: CanarydEvent[];
  connected: boolean;
}

function eventLine(e: CanarydEvent): string {
  switch (e.type) {
    case 'weights':
      return `canary ${num(e.previous)}% → ${num(e.canary)}% (${e.owner ?? ''}: ${e.reason ?? ''})`;
    case 'decision':
      return `${e.decision?.action ?? ''} → ${num(e.decision?.canaryWeight)}% ${(e.decision?.reasons ?? []).join('; ')}`;
    case 'config':
      return `config ${e.action} (${e.source})`;
    case 'flag':
      return `flag ${e.flag.key} ${e.action}`;
    case 'drift':
      return `drift ${e.action}: ${e.items.map((i) => i.path).join(', ')}`;
    case 'snapshot':
      return '';
    default:
      return String(e.action ?? '');
  }
}

export function renderFrame(v: View, base: string): string[] {
  const s = v.status;
  const ver = s?.versions;
  const r = s?.rollout;
  const w = r?.canaryWeight ?? s?.weights.canary ?? 0;
  const steps = stepsOf(r);
  const step = r ? r.step : null;
  const lines = [
    `canaryd ctl watch — ${base}  ${time(Date.now())}  ${v.connected ? 'live' : 'reconnecting…'}  (Ctrl-C to quit)`,
    `baseline ${ver?.baseline.version ?? '?'} · canary ${ver?.canary.version ?? '?'}   ${r ? `rollout ${r.phase}${step !== null ? `, step ${step + 1}/${steps.length}` : ''}` : 'no rollout controller'}`,
    progressBar(w, steps, step),
    '',
  ];
  const vs = v.snapshot?.versions;
  lines.push(
    ...table([
      ['version', 'req/s', 'errors', 'p50', 'p95', 'p99'],
      ...(['baseline', 'canary'] as const).map((n) => [
        n,
        num(vs?.[n].rps),
        pct(vs?.[n].errorRate),
        ms(vs?.[n].p50Ms),
        ms(vs?.[n].p95Ms),
        ms(vs?.[n].p99Ms),
      ]),
    ]).split('\n'),
    '',
  );
  if (v.analysisMissing) lines.push('analysis: no analysis engine on this canaryd');
  else {
    const rep = v.analysis;
    const checks = rep?.checks ?? [];
    lines.push(`analysis: ${rep?.verdict ?? 'none yet'}${typeof rep?.score === 'number' ? ` (score ${num(rep.score)})` : ''}`);
    if (typeof rep?.summary === 'string') lines.push(`  ${rep.summary}`);
    if (Array.isArray(rep?.mde) && rep.mde.length) lines.push(`  detectable now: ${rep.mde.map((m) => m.text).join(', ')}`);
    if (typeof rep?.forecast?.knob === 'string') lines.push(`  ${rep.forecast.knob}`);
    if (checks.length > 0) {
      lines.push(
        ...table(
          checks.map((c) => [
            '  ' + (c.status === 'fail' ? 'FAIL' : c.status),
            c.name,
            `observed ${num(c.observed)}`,
            `threshold ${num(c.threshold)}`,
          ]),
        ).split('\n'),
      );
    }
  }
  lines.push('', 'recent events');
  const recent = v.events.slice(-8).reverse();
  lines.push(...(recent.length ? recent.map((e) => `  ${time(e.at)}  ${String(e.type).padEnd(8)}  ${eventLine(e)}`) : ['  none yet']));
  return lines;
}

function summaryLine(v: View): string {
  const s = v.status;
  const vs = v.snapshot?.versions;
  const r = s?.rollout;
  return `${time(Date.now())} canary ${num(r?.canaryWeight ?? s?.weights.canary)}%${r ? ` ${r.phase}` : ''} | baseline ${num(vs?.baseline.rps)} rps ${pct(vs?.baseline.errorRate)} p95 ${ms(vs?.baseline.p95Ms)} | canary ${num(vs?.canary.rps)} rps ${pct(vs?.canary.errorRate)} p95 ${ms(vs?.canary.p95Ms)}`;
}

export async function watch(
  c: AdminClient,
  out: { write(s: string): unknown; isTTY?: boolean },
  opts: { count?: number },
): Promise<number> {
  const v: View = { status: null, analysis: null, analysisMissing: false, snapshot: null, events: [], connected: false };
  const poll = async () => {
    v.status = await c.get<StatusView>('/api/v1/status');
    try {
      v.analysis = await c.get<AnalysisReport>('/api/v1/analysis');
      v.analysisMissing = false;
    } catch (e) {
      if (e instanceof CtlError && e.status === 404) v.analysisMissing = true;
      else throw e;
    }
  };
  await poll(); // fails fast (exit 1) on a wrong URL or token
  let stream: { close(): void } | null = null;
  let stopped = false;
  const connect = async () => {
    try {
      stream = await c.events(
        (e) => {
          if (e.type === 'snapshot') v.snapshot = e;
          else if (e.type !== 'hello') {
            v.events.push(e);
            if (v.events.length > 50) v.events.shift();
          }
        },
        () => {
          v.connected = false;
          if (!stopped) setTimeout(() => void connect().catch(() => {}), 1000);
        },
      );
      v.connected = true;
    } catch (e) {
      if (e instanceof CtlError && (e.status === 401 || e.status === 403)) throw e;
      if (!stopped) setTimeout(() => void connect().catch(() => {}), 1000);
    }
  };
  await connect();
  const tty = out.isTTY === true;
  let frames = 0;
  return new Promise<number>((resolve) => {
    const finish = (code: number) => {
      stopped = true;
      clearInterval(timer);
      process.off('SIGINT', onSigint);
      stream?.close();
      if (tty) out.write('\x1b[?25h');
      resolve(code);
    };
    const onSigint = () => finish(0);
    process.on('SIGINT', onSigint);
    if (tty) out.write('\x1b[?25l');
    const draw = () => {
      frames++;
      if (tty) out.write(`\x1b[H\x1b[2J${renderFrame(v, c.base).join('\n')}\n`);
      else out.write(`${summaryLine(v)}\n`);
      if (opts.count !== undefined && frames >= opts.count) finish(0);
    };
    const timer = setInterval(() => {
      if (frames % 2 === 0) void poll().catch(() => {});
      draw();
    }, 1000);
    draw();
  });
}
