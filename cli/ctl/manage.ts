/**
 * `canaryd ctl flags create|update|archive` and `ctl experiments list|show|run|stop`: the writes the admin
 * API offers for flags and chaos experiments, so nothing needs curl. Thin over the routes (contract/flags.ts,
 * admin/routes/faults.ts): the API validates, ctl only shapes options into a body and prints the answer.
 */
import { readFileSync } from 'node:fs';
import type { Flag } from '../../contract/index.js';
import type { AdminClient } from './client.js';
import { printJson, UsageError, type Io } from './commands.js';

/** The options `flags create|update` read (strings as parseArgs gives them). */
export interface FlagOptions {
  kind?: string;
  to?: string;
  percentage?: string;
  users?: string;
  ips?: string;
  path?: string;
  description?: string;
  on?: boolean;
  off?: boolean;
}

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** Options → a flag body; only what was given (an update changes only those fields). */
export function flagBody(o: FlagOptions): Record<string, unknown> {
  if (o.on && o.off) throw new UsageError('--on and --off together');
  const body: Record<string, unknown> = {};
  if (o.kind !== undefined) body.kind = o.kind;
  if (o.to !== undefined) body.version = o.to;
  if (o.percentage !== undefined) {
    const n = Number(o.percentage);
    if (!Number.isFinite(n)) throw new UsageError(`--percentage: must be a number, got ${JSON.stringify(o.percentage)}`);
    body.percentage = n;
  }
  if (o.users !== undefined) body.users = list(o.users);
  if (o.ips !== undefined) body.ips = list(o.ips);
  if (o.path !== undefined) body.match = { path: o.path };
  if (o.description !== undefined) body.description = o.description;
  if (o.on) body.enabled = true;
  if (o.off) body.enabled = false;
  return body;
}

function describe(f: Flag): string {
  const who =
    f.kind === 'percentage'
      ? `${f.percentage ?? 0}% of users`
      : f.kind === 'userList'
        ? `${f.users?.length ?? 0} user(s)`
        : f.kind === 'ipList'
          ? (f.ips ?? []).join(', ')
          : 'everyone';
  return `flag ${f.key} (${f.kind}): ${f.enabled ? 'on' : 'off'}, ${who}${f.match ? ` matching ${JSON.stringify(f.match)}` : ''} → ${f.version}${f.archived ? ' (archived)' : ''}`;
}

/** flags create KEY | update KEY | archive KEY. */
export async function manageFlag(c: AdminClient, io: Io, sub: string, args: string[], o: FlagOptions): Promise<number> {
  const key = args[0];
  if (key === undefined || args.length > 1) throw new UsageError(`usage: canaryd ctl flags ${sub} KEY [options]`);
  const path = `/api/v1/flags/${encodeURIComponent(key)}`;
  let flag: Flag;
  if (sub === 'create') {
    const body = flagBody(o);
    if (body.kind === undefined) throw new UsageError('flags create: --kind boolean|percentage|userList|ipList is required');
    flag = await c.request<Flag>('POST', '/api/v1/flags', { key, ...body });
  } else if (sub === 'update') {
    const body = flagBody(o);
    if (Object.keys(body).length === 0) throw new UsageError('flags update: nothing to change (--on, --off, --percentage, --users, ...)');
    flag = await c.request<Flag>('PATCH', path, body);
  } else {
    flag = await c.request<Flag>('POST', `${path}/archive`);
  }
  if (io.json) return (printJson(io, flag), 0);
  io.out(describe(flag));
  return 0;
}

interface ExperimentReport {
  id: string;
  name?: string;
  state?: string;
  verdict?: string;
  steps?: Array<{ name?: string; state?: string; verdict?: string }>;
}

function reportLine(r: ExperimentReport): string {
  const steps = Array.isArray(r.steps) ? r.steps.map((s) => `${s.name ?? '?'}: ${s.verdict ?? s.state ?? '?'}`) : [];
  const verdict = r.verdict ? `, verdict ${r.verdict}` : '';
  return `experiment ${r.id}${r.name ? ` (${r.name})` : ''}: ${r.state ?? ''}${verdict}${steps.length ? ` — ${steps.join('; ')}` : ''}`;
}

/** experiments [list] | show ID | run FILE (JSON or YAML: the body of POST /api/v1/experiments) | stop ID. */
export async function experiments(c: AdminClient, io: Io, args: string[], reason?: string): Promise<number> {
  const [sub = 'list', arg, ...rest] = args;
  if (rest.length > 0) throw new UsageError(`experiments ${sub} takes one argument at most`);
  let answer: unknown;
  if (sub === 'list') {
    if (arg !== undefined) throw new UsageError('experiments list takes no argument');
    const r = await c.get<{ running: string | null; experiments: ExperimentReport[] }>('/api/v1/experiments');
    if (io.json) return (printJson(io, r), 0);
    if (r.experiments.length === 0) return (io.out('no experiments'), 0);
    io.out(r.experiments.map((e) => (e.id === r.running ? '* ' : '  ') + reportLine(e)).join('\n'));
    return 0;
  }
  if (arg === undefined) throw new UsageError(`usage: canaryd ctl experiments ${sub} ${sub === 'run' ? 'FILE' : 'ID'}`);
  if (sub === 'show') answer = await c.get<ExperimentReport>(`/api/v1/experiments/${encodeURIComponent(arg)}`);
  else if (sub === 'stop')
    answer = await c.request<ExperimentReport>(
      'POST',
      `/api/v1/experiments/${encodeURIComponent(arg)}/stop${reason ? `?reason=${encodeURIComponent(reason)}` : ''}`,
    );
  else if (sub === 'run') {
    let spec: unknown;
    try {
      // YAML is a superset of JSON; config/ (loaded only here: ctl stays light to start) owns the parser
      const { parseYamlDocument } = await import('../../config/index.js');
      spec = parseYamlDocument(readFileSync(arg, 'utf8'));
    } catch (e) {
      throw new UsageError(`experiments run: cannot read ${arg}: ${(e as Error).message}`);
    }
    answer = await c.request<ExperimentReport>('POST', '/api/v1/experiments', spec);
  } else throw new UsageError(`experiments: unknown subcommand ${JSON.stringify(sub)} (list, show ID, run FILE, stop ID)`);
  if (io.json) return (printJson(io, answer), 0);
  io.out(reportLine(answer as ExperimentReport));
  return 0;
}
