/**
 * `canaryd ctl`: the admin API from the command line — see and steer a rollout, for people (status, watch)
 * and for deploy pipelines (wait). Talks HTTP to a running canaryd (--admin, default
 * http://127.0.0.1:9901) with the token from --token or CANARYD_ADMIN_TOKEN.
 */
import { parseArgs } from 'node:util';
import { AdminClient, CtlError } from './ctl/client.js';
import { faults, flags, rolloutAction, status, UsageError, weights, type Io } from './ctl/commands.js';
import { dependencies } from './ctl/dependencies.js';
import { waitFor } from './ctl/wait.js';
import { watch } from './ctl/watch.js';
import { pins, plan } from './ctl/plan.js';
import { experiments, manageFlag } from './ctl/manage.js';

export const CTL_USAGE = `usage: canaryd ctl [--admin URL] [--token T] [--ca FILE] [--json] <command>

commands:
  status                          versions, weights, rollout phase and progress
  weights [N] [--reason R]        show the weights, or set the canary weight to N percent
  start [--reason R]              start a rollout at the first step (after the pre-rollout gates)
  retry                           start a rolled-back rollout again from the first step
  promote [--full]                promote the canary one step (--full: straight to 100 %)
  pause | resume                  pause or resume the rollout
  rollback [--reason R]           send all traffic back to baseline (rules and flags that pin users to
                                  the canary are suspended too, unless routing.keepPinnedOnRollback)
  pins resume|suspend             re-enable (or suspend) the canary pins after a rollback
  plan [--rate N] [--error-rate P]
                                  before a start: when a good canary would reach 100 % at this traffic,
                                  and the smallest regression each step can detect
  faults [list|kill|resume]       list fault rules; kill: every fault off at once (--reason R);
                                  resume: re-arm after the kill switch or auto-disable (it names the
                                  rules that fire again; --disable-rules turns them off first)
  experiments [list|show ID|run FILE|stop ID]
                                  chaos experiments: run FILE is the experiment spec (JSON or YAML,
                                  the body of POST /api/v1/experiments); stop takes --reason R
  dependencies [NAME]             relayed TCP dependencies: listeners, live connections, active faults
                                  (their faults are fault rules: faults list / kill / resume)
  flags [list]                    list runtime flags
  flags check KEY [--user U] [--ip IP]
                                  is flag KEY on for these attributes, and where would they go
  flags create KEY --kind boolean|percentage|userList|ipList [--to canary|baseline]
        [--percentage N] [--users a,b] [--ips 10.0.0.0/8,...] [--path P] [--description D] [--on|--off]
  flags update KEY [the same options]    change only what is given
  flags archive KEY                       archive the flag (it stops routing)
  watch [--count N]               live view: rollout progress, rates, verdicts, events (Ctrl-C quits)
  wait --until promoted|rolledback [--timeout 10m]
                                  for pipelines: exit 0 when reached, 1 when the rollout ended the
                                  other way, 2 on timeout, 3 on an API error

options:
  --admin URL    admin API base URL, or host:port (default $CANARYD_ADMIN_URL, else http://127.0.0.1:9901)
  --token T      admin token (default $CANARYD_ADMIN_TOKEN)
  --ca FILE      PEM CA bundle an https:// admin's certificate must chain to (default $CANARYD_ADMIN_CA,
                 else the system store; NODE_EXTRA_CA_CERTS works too)
  --cert FILE, --key FILE
                 client certificate and key for an admin with admin.tls.clientAuth
                 (default $CANARYD_ADMIN_CERT, $CANARYD_ADMIN_KEY)
  --json         print the API's JSON

exit codes: 0 ok; 1 the API refused (4xx/5xx, message printed) or canaryd is unreachable; 2 usage error.`;

const OPTIONS = {
  admin: { type: 'string' },
  token: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  rate: { type: 'string' },
  'error-rate': { type: 'string' },
  full: { type: 'boolean' },
  reason: { type: 'string' },
  user: { type: 'string' },
  ip: { type: 'string' },
  until: { type: 'string' },
  timeout: { type: 'string' },
  count: { type: 'string' },
  kind: { type: 'string' },
  to: { type: 'string' },
  percentage: { type: 'string' },
  users: { type: 'string' },
  ips: { type: 'string' },
  path: { type: 'string' },
  description: { type: 'string' },
  on: { type: 'boolean' },
  off: { type: 'boolean' },
  'disable-rules': { type: 'boolean' },
} as const;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "10m", "90s", "1h30m", "500ms"; a bare number is seconds. (Not config's parser: ctl stays light to start.) */
export function timeoutMs(v: string | undefined): number {
  if (v === undefined) return 600_000;
  const s = v.trim();
  let ms: number | undefined;
  if (/^\d+(\.\d+)?$/.test(s)) ms = Number(s) * 1000;
  else if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s))
    ms = [...s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)].reduce((a, m) => a + Number(m[1]) * UNIT_MS[m[2]], 0);
  if (ms === undefined || ms <= 0) throw new UsageError(`--timeout: ${JSON.stringify(v)} is not a duration (e.g. 90s, 10m, 1h)`);
  return ms;
}

/** `--admin 127.0.0.1:9901` (no scheme) means http://127.0.0.1:9901, like curl. */
export function adminUrl(v: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `http://${v}`;
}

/** Where ctl writes: the console by default; tests pass their own. */
export interface CtlOutput {
  out(line: string): void;
  err(line: string): void;
  /** the live view's terminal (isTTY decides between redraw and one line per frame) */
  stream: { write(s: string): unknown; isTTY?: boolean };
}

const CONSOLE: CtlOutput = { out: (l) => console.log(l), err: (l) => console.error(l), stream: process.stdout };

export async function runCtl(argv: string[], env: NodeJS.ProcessEnv = process.env, output: CtlOutput = CONSOLE): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    output.err(`canaryd ctl: ${(e as Error).message} (see canaryd ctl --help)`);
    return 2;
  }
  const { values: o, positionals } = parsed;
  const [cmd, ...args] = positionals;
  if (o.help || cmd === undefined || cmd === 'help') {
    (cmd === undefined && !o.help ? output.err : output.out)(CTL_USAGE);
    return cmd === undefined && !o.help ? 2 : 0;
  }
  let client: AdminClient;
  try {
    client = new AdminClient({
      admin: adminUrl(o.admin || env.CANARYD_ADMIN_URL || 'http://127.0.0.1:9901'),
      token: o.token ?? env.CANARYD_ADMIN_TOKEN,
      tls: { ca: o.ca || env.CANARYD_ADMIN_CA, cert: o.cert || env.CANARYD_ADMIN_CERT, key: o.key || env.CANARYD_ADMIN_KEY },
    });
  } catch (e) {
    output.err(`canaryd ctl: ${(e as Error).message}`);
    return 2;
  }
  const io: Io = { out: output.out, json: o.json === true };
  const noArgs = () => {
    if (args.length > 0) throw new UsageError(`${cmd} takes no arguments, got ${args.join(' ')}`);
  };
  try {
    switch (cmd) {
      case 'status':
        noArgs();
        return await status(client, io);
      case 'weights':
        return await weights(client, io, args, o.reason);
      case 'promote':
        noArgs();
        return await rolloutAction(client, io, 'promote', o.full ? { full: true } : {});
      case 'start':
        noArgs();
        return await rolloutAction(client, io, 'start', o.reason ? { reason: o.reason } : {});
      case 'retry':
        noArgs();
        return await rolloutAction(client, io, 'retry', {});
      case 'pause':
      case 'resume':
        noArgs();
        return await rolloutAction(client, io, cmd, o.reason ? { reason: o.reason } : {});
      case 'rollback':
        noArgs();
        return await rolloutAction(client, io, 'rollback', o.reason ? { reason: o.reason } : {});
      case 'pins':
        return await pins(client, io, args);
      case 'plan': {
        noArgs();
        const body: Record<string, number> = {};
        for (const [k, v] of [
          ['rate', o.rate],
          ['errorRate', o['error-rate']],
        ] as const) {
          if (v === undefined) continue;
          const n = Number(v);
          if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${k === 'rate' ? 'rate' : 'error-rate'}: must be a number ≥ 0`);
          body[k] = n;
        }
        return await plan(client, io, body);
      }
      case 'faults':
        return await faults(client, io, args, o.reason, { disableRules: o['disable-rules'] === true });
      case 'experiments':
        return await experiments(client, io, args, o.reason);
      case 'dependencies':
        return await dependencies(client, io, args);
      case 'flags':
        if (args[0] === 'create' || args[0] === 'update' || args[0] === 'archive')
          return await manageFlag(client, io, args[0], args.slice(1), o);
        return await flags(client, io, args, { user: o.user, ip: o.ip });
      case 'watch': {
        noArgs();
        const count = o.count === undefined ? undefined : Number(o.count);
        if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new UsageError('--count: must be a positive integer');
        return await watch(client, output.stream, { count });
      }
      case 'wait': {
        noArgs();
        if (o.until !== 'promoted' && o.until !== 'rolledback')
          throw new UsageError(`wait: --until must be promoted or rolledback${o.until ? `, got ${JSON.stringify(o.until)}` : ''}`);
        return await waitFor(client, o.until, timeoutMs(o.timeout), (l) => output.err(`canaryd ctl wait: ${l}`));
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      output.err(`canaryd ctl: ${e.message} (see canaryd ctl --help)`);
      return 2;
    }
    if (e instanceof CtlError) {
      output.err(`canaryd ctl ${cmd}: ${e.message}`);
      return cmd === 'wait' ? 3 : 1;
    }
    throw e;
  }
}
