import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText, parseDuration, ConfigSchema } from '../config/index.js';
import { tempDir } from './helpers/canaryd.js';

const BASE = `upstreams:
  baseline: { url: http://127.0.0.1:3000, version: v1.0.0 }
  canary:   { url: http://127.0.0.1:3001, version: v1.0.1 }
`;

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(yaml, env);
  } catch (e) {
    return ((e as { details?: string[] }).details ?? [String(e)]) as string[];
  }
  return [];
}

t.test('the issue example parses, with durations, defaults and env interpolation', async (t) => {
  const c = parseConfigText(
    `listen: 127.0.0.1:8080
admin:
  listen: 127.0.0.1:9901
  token: \${CANARYD_ADMIN_TOKEN}
${BASE}routing:
  canaryWeight: 5
  sticky: { header: x-user-id }
  rules:
    - name: beta-testers
      match: { header: { x-beta: "1" } }
      to: canary
  mirror: { percent: 0 }
timeouts: { connect: 2s, headers: 30s, body: 1m }
state: { dir: ./.canaryd }
`,
    { CANARYD_ADMIN_TOKEN: 's3cret' },
  );
  t.equal(c.admin.token, 's3cret');
  t.same(c.timeouts, { connect: 2000, headers: 30_000, body: 60_000, request: 60_000, clientHeaders: 10_000, clientBody: 10_000 });
  t.equal(c.routing.canaryWeight, 5);
  t.equal(c.routing.rules[0].enabled, true, 'defaults filled in');
  t.equal(c.proxy.versionHeader, true);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.routing), 'config is frozen');
  t.equal(parseDuration('1m30s'), 90_000);
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration(250), 250);
  t.equal(parseDuration('2x'), undefined);
});

t.test('every error names the key path and the problem', async (t) => {
  t.same(problems(`${BASE}routing: { canaryWeight: 150 }`), ['routing.canaryWeight: must be <= 100, got 150']);
  t.same(problems(`${BASE}routing: { weight: 3 }`), ['routing.weight: unknown key, use routing.canaryWeight instead']);
  t.same(problems(`${BASE}timeouts: { connect: soon }`), [
    'timeouts.connect: must be a duration like 500ms, 2s, 1m or a number of ms, got "soon"',
  ]);
  t.same(problems(`${BASE}log: { level: loud }`), [
    'log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"',
  ]);
  t.same(problems(`upstreams: { baseline: { url: http://a:1 } }`), ['upstreams.canary: is required']);
  t.same(problems(`${BASE}routing: { sticky: { header: a, cookie: b } }`), ['routing.sticky: set exactly one of header or cookie']);
  t.same(problems(`${BASE}routing: { rules: [{ name: r, match: { ip: [10.0.0.0/33] }, to: canary }] }`), [
    'routing.rules[0].match.ip[0]: must be an IP or CIDR, got "10.0.0.0/33"',
  ]);
  t.same(problems(`${BASE}routing: { rules: [{ name: r, match: { path: /x }, to: both }] }`), [
    'routing.rules[0].to: must be one of "baseline", "canary", got "both"',
  ]);
  t.same(problems(`${BASE}admin: { listen: 0.0.0.0:9901 }`), [
    'admin.token: required when admin.listen (0.0.0.0:9901) is not a loopback address',
  ]);
  t.same(problems(`${BASE}admin: { token: "\${NOPE}" }`), [
    'admin.token: environment variable NOPE is not set (write ${NOPE:-} to allow it to be empty)',
  ]);
  t.same(problems(`${BASE}admin: { token: "\${NOPE:-}" }`), [], '${VAR:-} allows empty');
  const many = problems(`${BASE}routing: { canaryWeight: -1, mirror: { percent: 101 } }\ntimeouts: { body: x }\nbogus: 1`);
  t.equal(many.length, 4, `all problems listed at once: ${many.join(' | ')}`);
  t.match(problems('listen: [unclosed')[0], /config:/, 'YAML syntax errors are reported');
});

t.test('canaryd validate exits non-zero listing every problem', async (t) => {
  const dir = tempDir();
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, `${BASE}routing: { canaryWeight: 150 }\ntimeouts: { connect: soon }\n`);
  const r = spawnSync(process.execPath, ['dist/cli/canaryd.js', 'validate', bad], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stderr, /routing\.canaryWeight: must be <= 100, got 150/);
  t.match(r.stderr, /timeouts\.connect: must be a duration/);
  const good = join(dir, 'good.yaml');
  writeFileSync(good, BASE);
  const ok = spawnSync(process.execPath, ['dist/cli/canaryd.js', 'validate', good], { encoding: 'utf8' });
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /valid/);
});

t.test('the published JSON Schema is the one the code validates with', async (t) => {
  const published = JSON.parse(readFileSync('config/canaryd.schema.json', 'utf8'));
  t.same(published, JSON.parse(JSON.stringify(ConfigSchema)), 'config/canaryd.schema.json is up to date (npm run build writes it)');
  for (const example of ['examples/canaryd.yaml']) {
    const r = spawnSync(process.execPath, ['dist/cli/canaryd.js', 'validate', example], {
      encoding: 'utf8',
      env: { ...process.env, CANARYD_ADMIN_TOKEN: 'x' },
    });
    t.equal(r.status, 0, `${example} validates: ${r.stderr}`);
  }
});

t.test('canaryd refuses to start with the admin API beyond loopback and no token', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'open-admin.yaml');
  writeFileSync(file, `${BASE}listen: 127.0.0.1:0\nadmin: { listen: "0.0.0.0:0" }\nstate: { dir: "${dir}" }\n`);
  const r = spawnSync(process.execPath, ['dist/cli/canaryd.js', '--config', file], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 1, 'exits 1 instead of serving');
  t.match(r.stderr, /admin\.token: required when admin\.listen \(0\.0\.0\.0:0\) is not a loopback address/);
  for (const host of ['[::]:0', '10.1.2.3:0', 'example.com:0']) {
    t.same(
      problems(`${BASE}admin: { listen: "${host}" }`),
      [`admin.token: required when admin.listen (${host}) is not a loopback address`],
      host,
    );
  }
  for (const host of ['127.0.0.1:0', '[::1]:0', 'localhost:0'])
    t.same(problems(`${BASE}admin: { listen: "${host}" }`), [], `${host} needs no token`);
});
