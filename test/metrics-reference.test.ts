/**
 * docs/prometheus.md's metrics reference holds what canaryd serves: a real canaryd (faults, FinOps and a
 * rollout configured, traffic through both versions) is scraped, and every family and every label on its
 * samples must be in the table; every series the table names must exist in the source, so the table
 * cannot keep a removed metric. The PromQL cookbook's queries must parse (Debian promtool).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configYaml, startSidecar, tempDir } from './helpers/canaryd.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';

const DOC = readFileSync('docs/prometheus.md', 'utf8');
const PROMTOOL = '/usr/bin/promtool';

/** Rows of the reference table: series name -> the label cell. */
function documented(): Map<string, string> {
  const start = DOC.indexOf('## Metrics reference');
  const end = DOC.indexOf('\n## ', start + 1);
  const rows = new Map<string, string>();
  for (const line of DOC.slice(start, end < 0 ? undefined : end).split('\n')) {
    const m = /^\| `([a-z_:][a-z0-9_:]*)` \| (\w+) \|([^|]*)\|/.exec(line);
    if (m) rows.set(m[1]!, m[3]!);
  }
  return rows;
}

/** Families in a /metrics text, with the label names seen on their samples. */
function families(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const typ = /^# TYPE (\S+) /.exec(line);
    if (typ) out.set(typ[1]!, out.get(typ[1]!) ?? new Set());
  }
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?/.exec(line)!;
    let name = m[1]!;
    for (const suffix of ['_bucket', '_sum', '_count'])
      if (name.endsWith(suffix) && out.has(name.slice(0, -suffix.length))) name = name.slice(0, -suffix.length);
    const labels = out.get(name) ?? new Set<string>();
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) if (l[1] !== 'le') labels.add(l[1]!);
    out.set(name, labels);
  }
  return out;
}

function sourceText(dir = '.'): string {
  let text = '';
  for (const name of readdirSync(dir)) {
    if (['node_modules', 'dist', 'test', 'bench', '.git', 'docs', 'deploy'].includes(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) text += sourceText(p);
    else if (name.endsWith('.ts')) text += readFileSync(p, 'utf8');
  }
  return text;
}

t.test('every family and label a real canaryd serves is in the reference table', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const s = await startSidecar(
    configYaml(
      base.url,
      can.url,
      `routing: { canaryWeight: 50 }
faults: { enabled: true }
analysis: { prometheus: { url: "http://127.0.0.1:1" } }
finops: { prices: { cpuCoreHour: 0.04, memoryGbHour: 0.005 }, budget: { perDay: 10 } }
`,
    ),
  );
  t.teardown(async () => {
    await s.stop();
    await base.close();
    await can.close();
  });
  for (let i = 0; i < 40; i++) await (await fetch(`${s.url}/path-${i}`)).text();
  const text = await (await fetch(`${s.adminUrl}/metrics`)).text();
  const served = families(text);
  const rows = documented();
  t.ok(rows.size > 30, `the table has ${rows.size} rows`);
  const ours = [...served.keys()].filter((n) => !n.startsWith('process_') && !n.startsWith('nodejs_'));
  t.ok(ours.length > 25, `canaryd served ${ours.length} families of its own`);
  t.same(
    ours.filter((n) => !rows.has(n)),
    [],
    'families served but missing from docs/prometheus.md "Metrics reference"',
  );
  const missingLabels: string[] = [];
  for (const n of ours)
    for (const l of served.get(n)!) if (rows.has(n) && !rows.get(n)!.includes('`' + l + '`')) missingLabels.push(`${n}{${l}}`);
  t.same(missingLabels, [], 'labels served but not listed in their row');
  t.ok(served.get('http_requests_total')!.has('version'), 'the scrape saw labelled samples (the label check can fail)');
});

t.test('every series the table names exists in the source', async (t) => {
  const src = sourceText();
  t.same(
    [...documented().keys()].filter((n) => !src.includes(`'${n}'`)),
    [],
    'documented series that no code registers',
  );
});

t.test("the cookbook's queries parse (promtool check rules)", async (t) => {
  const queries = [...DOC.matchAll(/```promql\n([\s\S]*?)\n```/g)].map((m) => m[1]!.trim());
  t.ok(queries.length >= 10, `${queries.length} cookbook queries`);
  const file = join(tempDir('canaryd-cookbook-'), 'cookbook.yaml');
  const rules = queries.map((q, i) => `      - record: cookbook:query_${i}\n        expr: ${JSON.stringify(q)}`).join('\n');
  writeFileSync(file, `groups:\n  - name: cookbook\n    rules:\n${rules}\n`);
  const check = spawnSync(PROMTOOL, ['check', 'rules', file], { encoding: 'utf8' });
  t.equal(check.status, 0, `promtool check rules: ${check.stdout}${check.stderr}`);
  t.match(check.stdout, new RegExp(`SUCCESS: ${queries.length} rules found`));
});
