/** The one-shot `canaryd ctl` commands: status, weights, promote, pause, resume, rollback, faults, flags. */
import type {
  FaultsKillAnswer,
  FaultsView,
  Flag,
  FlagCheckResult,
  FlagList,
  RolloutStatus,
  SetWeightResult,
  StatusView,
  WeightsView,
} from '../../contract/index.js';
import { AdminClient } from './client.js';
import { num, progressBar, stepsOf, table } from './format.js';

export interface Io {
  out(line: string): void;
  json: boolean;
}

export class UsageError extends Error {}

export function printJson(io: Io, v: unknown): void {
  io.out(JSON.stringify(v, null, 2));
}

export async function status(c: AdminClient, io: Io): Promise<number> {
  const s = await c.get<StatusView>('/api/v1/status');
  if (io.json) return (printJson(io, s), 0);
  const v = s.versions;
  const w = s.weights;
  const rows = [
    ['canaryd', `${c.base} (up ${num(s.uptimeSeconds)} s, ${num(s.inflight)} in flight)`],
    ['weights', `baseline ${num(w.baseline)}%  canary ${num(w.canary)}%${w.owner ? `  (set by ${w.owner})` : ''}`],
  ];
  for (const name of ['baseline', 'canary'] as const) {
    const x = v?.[name];
    rows.push([name, `${x?.version ?? '?'}  ${x?.url ?? ''}  ${num(x?.requests?.requests ?? 0)} requests`]);
  }
  const r = s.rollout;
  if (r) {
    const steps = stepsOf(r);
    const step = r.step;
    rows.push([
      'rollout',
      `${r.phase}, step ${step + 1}/${steps.length}${r.lastDecision ? `, last decision ${r.lastDecision.action}` : ''}`,
    ]);
    rows.push(['', progressBar(r.canaryWeight, steps, step)]);
    if (r.summary) rows.push(['analysis', r.summary]);
    if (r.mde?.length) rows.push(['detectable', r.mde.map((m) => m.text).join(', ')]);
    if (r.forecast?.knob) rows.push(['knob', String(r.forecast.knob)]);
    if (r.pinsSuspended)
      rows.push(['pins', `suspended after the rollback: ${(r.suspendedPins ?? []).join(', ') || 'none configured'} (ctl pins resume)`]);
  } else {
    rows.push(['rollout', 'no rollout controller status']);
  }
  io.out(table(rows));
  return 0;
}

export async function weights(c: AdminClient, io: Io, args: string[], reason?: string): Promise<number> {
  if (args.length > 1) throw new UsageError('weights takes at most one number');
  if (args.length === 0) {
    const w = await c.get<WeightsView>('/api/v1/weights');
    io.out(io.json ? JSON.stringify(w, null, 2) : `baseline ${num(w.baseline)}%  canary ${num(w.canary)}%  (set by ${w.owner})`);
    return 0;
  }
  const n = Number(args[0]);
  if (args[0].trim() === '' || !Number.isFinite(n)) throw new UsageError(`weights: ${JSON.stringify(args[0])} is not a number`);
  const r = await c.request<SetWeightResult>('PUT', '/api/v1/weights', reason ? { canary: n, reason } : { canary: n });
  io.out(io.json ? JSON.stringify(r, null, 2) : `canary weight set to ${num(r.canaryWeight ?? n)}%`);
  return 0;
}

/** start / retry / pause / resume / promote / rollback: POST /api/v1/rollout/<action>. */
export async function rolloutAction(
  c: AdminClient,
  io: Io,
  action: 'start' | 'retry' | 'pause' | 'resume' | 'promote' | 'rollback',
  body: Record<string, unknown>,
): Promise<number> {
  const r = await c.request<RolloutStatus>('POST', `/api/v1/rollout/${action}`, body);
  if (io.json) return (printJson(io, r), 0);
  const bits = [`${action}: ok`];
  if (r.phase) bits.push(`phase ${r.phase}`);
  if (typeof r.canaryWeight === 'number') bits.push(`canary ${num(r.canaryWeight)}%`);
  io.out(bits.join(', '));
  return 0;
}

/** faults list | kill [--reason R] | resume (docs/faults.md). */
export async function faults(
  c: AdminClient,
  io: Io,
  args: string[],
  reason?: string,
  opts: { disableRules?: boolean } = {},
): Promise<number> {
  const sub = args[0] ?? 'list';
  if (args.length > 1) throw new UsageError(`faults ${sub} takes no more arguments, got ${args.slice(1).join(' ')}`);
  if (sub === 'kill') {
    const r = await c.request<FaultsKillAnswer>('DELETE', `/api/v1/faults${reason ? `?reason=${encodeURIComponent(reason)}` : ''}`);
    if (io.json) return (printJson(io, r), 0);
    const bits = [];
    if (typeof r.released === 'number') bits.push(`${r.released} in-flight fault(s) lifted`);
    if (r.experimentsStopped) bits.push('the running experiment aborted');
    if (typeof r.removed === 'number') bits.push(`${r.removed} rule(s) removed`);
    io.out(
      `fault kill switch tripped: every fault off${bits.length ? ` (${bits.join(', ')})` : ''}${r.state === 'halted' ? '; re-arm with: canaryd ctl faults resume' : ''}`,
    );
    return 0;
  }
  if (sub === 'resume') {
    // Resuming re-arms every enabled rule, including the one that tripped the switch: show them first, and
    // with --disable-rules turn them off before re-arming (the rules stay, disabled, to be fixed and re-enabled).
    const before = await c.get<FaultsView>('/api/v1/faults');
    const armed = (before.rules ?? []).filter((f) => f.enabled !== false && !f.expired && f.source !== 'experiment');
    if (!io.json && before.halted) io.out(`halted by ${before.halted.kind}: ${before.halted.reason}`);
    if (opts.disableRules)
      for (const f of armed) await c.request('PATCH', `/api/v1/faults/${encodeURIComponent(f.name)}`, { enabled: false });
    const r = await c.request<FaultsView>('POST', '/api/v1/faults/resume');
    if (io.json) return (printJson(io, r), 0);
    io.out(`fault injection ${r.state ?? 'resumed'}`);
    if (armed.length > 0)
      io.out(
        opts.disableRules
          ? `disabled before resuming: ${armed.map((f) => f.name).join(', ')} (re-enable each with PATCH enabled: true)`
          : `these rules fire again now: ${armed.map((f) => `${f.name} (${f.type}, probability ${num(f.probability)})`).join(', ')}; to resume with them off: canaryd ctl faults resume --disable-rules`,
      );
    return 0;
  }
  if (sub !== 'list') throw new UsageError(`faults: unknown subcommand ${JSON.stringify(sub)} (list, kill, resume)`);
  const r = await c.get<FaultsView>('/api/v1/faults');
  if (io.json) return (printJson(io, r), 0);
  io.out(
    `fault injection: ${r.state}${r.halted?.reason ? ` (${r.halted.reason})` : r.state !== 'armed' && r.state !== 'idle' && r.refusal ? ` (${r.refusal})` : ''}`,
  );
  const list = r.rules ?? [];
  if (list.length === 0) return (io.out('no fault rules'), 0);
  const match = (m: unknown) => (m && typeof m === 'object' && Object.keys(m).length > 0 ? JSON.stringify(m) : 'every request');
  io.out(
    table([
      ['name', 'type', 'probability', 'state', 'source', 'injected', 'match'],
      ...list.map((f) => [
        f.name,
        f.type,
        num(f.probability),
        f.active === true
          ? 'active'
          : f.expired
            ? 'expired'
            : f.enabled === false
              ? 'disabled'
              : f.active === false
                ? 'inactive'
                : String(f.enabled ?? true),
        String(f.source ?? ''),
        num(f.injected),
        match(f.match),
      ]),
    ]),
  );
  return 0;
}

export async function flags(c: AdminClient, io: Io, args: string[], opts: { user?: string; ip?: string }): Promise<number> {
  const sub = args[0] ?? 'list';
  if (sub === 'check') {
    const key = args[1];
    if (!key || args.length > 2) throw new UsageError('usage: canaryd ctl flags check KEY [--user U] [--ip IP]');
    const q = new URLSearchParams();
    if (opts.user !== undefined) q.set('userId', opts.user);
    if (opts.ip !== undefined) q.set('ip', opts.ip);
    const r = await c.get<FlagCheckResult>(`/api/v1/flags/${encodeURIComponent(key)}/check${q.size ? `?${q}` : ''}`);
    if (io.json) return (printJson(io, r), 0);
    const where = r.route.version ? `${r.route.version}` : `canary with chance ${num((r.route.canaryChance ?? 0) * 100)}%`;
    const by = r.route.decidedBy === 'weights' ? 'weights' : `${r.route.decidedBy} ${r.route.rule}`;
    io.out(
      `flag ${r.key} (${r.kind} → ${r.flagVersion}): ${r.enabled ? 'ON' : 'OFF'} — ${r.reason}\nsuch a request goes to ${where} (decided by ${by})`,
    );
    return 0;
  }
  if (sub !== 'list' || args.length > 1)
    throw new UsageError(`flags: unknown subcommand ${JSON.stringify(args.join(' '))} (list, check KEY, create|update|archive KEY)`);
  const r = await c.get<FlagList>('/api/v1/flags');
  if (io.json) return (printJson(io, r), 0);
  const list = r.flags;
  if (list.length === 0) return (io.out('no flags'), 0);
  const detail = (f: Flag) =>
    (f.kind === 'percentage'
      ? `${num(f.percentage)}% of users`
      : f.kind === 'userList'
        ? `${f.users?.length ?? 0} user(s)`
        : f.kind === 'ipList'
          ? (f.ips ?? []).join(', ')
          : 'everyone') + (f.match ? ` matching ${JSON.stringify(f.match)}` : '');
  io.out(
    table([['key', 'kind', 'state', 'to', 'who'], ...list.map((f) => [f.key, f.kind, f.enabled ? 'on' : 'off', f.version, detail(f)])]),
  );
  return 0;
}
