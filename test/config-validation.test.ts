/**
 * Config validation a new user meets: "did you mean" for unknown keys and rollout.critical names, schema and
 * semantic problems in one pass, file:line:column for schema errors, ${VAR} filling numbers and booleans,
 * zero intervals and steps not ending at 100 refused.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../config/index.js';
import { CHECK_NAMES } from '../config/sections/check-names.js';
import { tempDir } from './helpers/canaryd.js';

const BASE = `upstreams:
  baseline: { url: http://127.0.0.1:3000 }
  canary: { url: http://127.0.0.1:3001 }
`;

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(yaml, env);
  } catch (e) {
    return ((e as { details?: string[] }).details ?? [String(e)]) as string[];
  }
  return [];
}

t.test('unknown keys: did you mean', async (t) => {
  t.same(problems(`${BASE}routing: { canaryWieght: 5 }`), ['routing.canaryWieght: unknown key, did you mean canaryWeight?']);
  t.same(problems(`${BASE}timeout: { connect: 1s }`), ['timeout: unknown key, did you mean timeouts?']);
  t.same(problems(`${BASE}rollout: { stpes: [5, 100] }`), ['rollout.stpes: unknown key, did you mean steps?']);
  t.same(problems(`${BASE}routing: { zzzzqqq: 1 }`), ['routing.zzzzqqq: unknown key'], 'no guess when nothing is close');
  t.same(
    problems(`${BASE}routing: { weight: 3 }`),
    ['routing.weight: unknown key, use routing.canaryWeight instead'],
    'known renames still win',
  );
});

t.test('rollout.critical names are checks that exist', async (t) => {
  t.same(problems(`${BASE}rollout: { critical: [slo.errorRate, compare.eror_rate] }`), [
    'rollout.critical[1]: no check is named "compare.eror_rate", did you mean compare.errorRate?',
  ]);
  t.match(problems(`${BASE}rollout: { critical: [latency] }`)[0], /no check is named "latency" \(checks: slo\.errorRate, /);
  t.same(problems(`${BASE}rollout: { critical: [${CHECK_NAMES.join(', ')}] }`), [], 'every listed name is accepted');
});

t.test('CHECK_NAMES mirrors the check names analysis/ produces', async (t) => {
  const src = ['analysis/judge/slo.ts', 'analysis/judge/compare.ts'].map((f) => readFileSync(f, 'utf8')).join('\n');
  const found = new Set([...src.matchAll(/'((?:slo|compare)\.[A-Za-z0-9]+)'/g)].map((m) => m[1]));
  const monitor = readFileSync('analysis/anomaly/monitor.ts', 'utf8');
  t.match(monitor, /const name = `anomaly\.canary\.\$\{metric\}`/, 'anomaly checks are anomaly.canary.<metric>');
  const metrics = /metrics: Type\.Array\(Type\.Union\(\[([^\]]+)\]/.exec(readFileSync('config/sections/rollout.ts', 'utf8'))![1];
  for (const m of metrics.matchAll(/Type\.Literal\('([^']+)'\)/g)) found.add(`anomaly.canary.${m[1]}`);
  t.same([...found].sort(), [...CHECK_NAMES].sort());
});

t.test('schema and semantic problems in one pass', async (t) => {
  const all = problems(
    `${BASE}routing: { canaryWeight: 500, sticky: { header: a, cookie: b } }\nrollout: { steps: [5, 50], interval: 0 }\nadmin: { listen: "0.0.0.0:9901" }\n`,
  );
  t.same(all.sort(), [
    'admin.token: required when admin.listen (0.0.0.0:9901) is not a loopback address',
    'rollout.interval: must be more than 0, got 0',
    'rollout.steps[1]: the last step must be 100 (a rollout ends with all traffic on the canary), got 50',
    'routing.canaryWeight: must be <= 100, got 500',
    'routing.sticky: set exactly one of header or cookie',
  ]);
});

t.test('zero intervals and steps not ending at 100 are refused', async (t) => {
  t.same(problems(`${BASE}rollout: { analysisInterval: 0s }`), ['rollout.analysisInterval: must be more than 0, got 0']);
  t.same(problems(`${BASE}rollout: { steps: [10, 90] }`), [
    'rollout.steps[1]: the last step must be 100 (a rollout ends with all traffic on the canary), got 90',
  ]);
  t.same(problems(`${BASE}rollout: { steps: [100] }`), [], 'a single step of 100 is fine');
});

t.test('${VAR} fills numbers and booleans where the schema wants them', async (t) => {
  const c = parseConfigText(
    `${BASE}routing: { canaryWeight: "\${W}" }\nproxy: { versionHeader: "\${VH}", retries: "\${R}" }\nadmin: { token: "\${T}" }\ntimeouts: { connect: "\${C}" }\n`,
    { W: '12.5', VH: 'false', R: '3', T: '12345', C: '750' },
  );
  t.equal(c.routing.canaryWeight, 12.5);
  t.equal(c.proxy.versionHeader, false);
  t.equal(c.proxy.retries, 3);
  t.equal(c.admin.token, '12345', 'a string key keeps the text');
  t.equal(c.timeouts.connect, 750, 'a duration still parses');
  t.same(
    problems(`${BASE}routing: { canaryWeight: "\${W}" }`, { W: 'lots' }),
    ['routing.canaryWeight: must be number, got "lots"'],
    'a non-number stays an error',
  );
  t.same(
    problems(`${BASE}routing: { canaryWeight: "7" }`),
    ['routing.canaryWeight: must be number, got "7"'],
    'a literal string in the file is not converted',
  );
  t.equal(parseConfigText(`${BASE}routing: { canaryWeight: "\${W:-4}" }`, {}).routing.canaryWeight, 4, 'defaults convert too');
});

t.test('canaryd validate gives file:line:column for schema errors', async (t) => {
  const dir = tempDir('canaryd-validate-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'canaryd.yaml');
  writeFileSync(file, `${BASE}routing:\n  canaryWieght: 5\n  mirror:\n    percent: 300\nrollout:\n  critical: [compare.errorrate]\n`);
  const r = spawnSync(process.execPath, ['dist/cli/canaryd.js', 'validate', file], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stderr, `${file}:5:3: routing.canaryWieght: unknown key, did you mean canaryWeight?`);
  t.match(r.stderr, `${file}:7:5: routing.mirror.percent: must be <= 100, got 300`);
  t.match(r.stderr, `${file}:9:14: rollout.critical[0]: no check is named "compare.errorrate", did you mean compare.errorRate?`);
  t.same(readdirSync(dir), ['canaryd.yaml'], 'validate writes nothing');
});
