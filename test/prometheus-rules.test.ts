/**
 * The shipped alert rules (deploy/prometheus/canaryd-rules.yaml) with the Debian promtool: `check rules`
 * accepts them, and `test rules` passes the unit tests in deploy/prometheus/tests/. Beyond promtool: every
 * alert has a summary, a description and a runbook_url whose anchor is a heading of docs/runbook.md, and
 * every alert is tested both firing and not firing.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const PROMTOOL = '/usr/bin/promtool';
const RULES = 'deploy/prometheus/canaryd-rules.yaml';
const TESTS = 'deploy/prometheus/tests';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  annotations?: Record<string, string>;
}
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);
const testFiles = readdirSync(TESTS)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => join(TESTS, f));

t.test('promtool check rules and promtool test rules pass', async (t) => {
  t.ok(existsSync(PROMTOOL), `${PROMTOOL} is installed (the Debian package prometheus)`);
  const check = spawnSync(PROMTOOL, ['check', 'rules', RULES], { encoding: 'utf8' });
  t.equal(check.status, 0, `promtool check rules: ${check.stdout}${check.stderr}`);
  t.match(check.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  const test = spawnSync(PROMTOOL, ['test', 'rules', ...testFiles], { encoding: 'utf8' });
  t.equal(test.status, 0, `promtool test rules: ${test.stdout}${test.stderr}`);
  t.equal((test.stdout.match(/SUCCESS/g) ?? []).length, testFiles.length, 'every test file succeeded');
});

t.test('every alert has a summary, a description and a runbook_url into docs/runbook.md', async (t) => {
  const runbook = readFileSync('docs/runbook.md', 'utf8');
  const anchors = new Set(
    [...runbook.matchAll(/^#{2,3} (.+)$/gm)].map((m) =>
      m[1]
        .trim()
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, '')
        .replace(/ /g, '-'),
    ),
  );
  t.ok(alerts.length >= 13, `${alerts.length} alerts`);
  for (const a of alerts) {
    const ann = a.annotations ?? {};
    t.ok(ann.summary && ann.description, `${a.alert}: summary and description`);
    const m = /^https:\/\/canaryd\.dev\/docs\/runbook\.md#([a-z0-9-]+)$/.exec(ann.runbook_url ?? '');
    t.ok(m && anchors.has(m[1]), `${a.alert}: runbook_url ${ann.runbook_url} names a heading of docs/runbook.md`);
  }
  for (const name of [
    'CanaryHighErrorRate',
    'CanaryHighLatencyP95',
    'CanaryHighLatencyP99',
    'CanaryRolledBack',
    'CanaryRolloutStuck',
    'CanaryFaultsInProduction',
    'CanaryChaosAutoDisabled',
    'CanarydDown',
    'CanarydNotReady',
    'CanarydUpstreamErrors',
    'CanaryCostBudgetExceeded',
    'CanarydErrorBudgetBurnFast',
    'CanarydErrorBudgetBurnSlow',
  ]) {
    t.ok(
      alerts.some((a) => a.alert === name),
      `the issue's alert ${name} is shipped`,
    );
  }
});

t.test('every alert is unit-tested both firing and not firing', async (t) => {
  const firing = new Set<string>();
  const silent = new Set<string>();
  for (const f of testFiles) {
    const doc = parse(readFileSync(f, 'utf8')) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
    };
    for (const tc of doc.tests)
      for (const a of tc.alert_rule_test ?? []) ((a.exp_alerts ?? []).length > 0 ? firing : silent).add(a.alertname);
  }
  for (const a of alerts) {
    t.ok(firing.has(a.alert!), `${a.alert}: a case where it fires`);
    t.ok(silent.has(a.alert!), `${a.alert}: a case where it does not`);
  }
});
