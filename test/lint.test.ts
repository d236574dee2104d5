import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const SCRIPT = resolve('scripts/check-imports.mjs');
const run = (cwd: string) => spawnSync(process.execPath, [SCRIPT], { cwd, encoding: 'utf8' });

t.test('import direction rules hold (scripts/check-imports.mjs, also `npm run lint`)', async (t) => {
  const r = run(process.cwd());
  t.equal(r.status, 0, r.stderr || r.stdout);
});

/** A small tree that breaks each rule once, so every rule is seen to fire (a check that cannot fail proves nothing). */
t.test('each rule reports its violation, and a clean tree passes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-lint-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const put = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  put('sidecar.ts', "import { a } from './core/index.js';\nexport const s = a;\n");
  put('core/index.ts', 'export const a = 1;\n');
  put('proxy/index.ts', "export { p } from './p.js';\n");
  put('proxy/p.ts', "import { a } from '../core/index.js';\nexport const p = a;\n");
  const clean = run(dir);
  t.equal(clean.status, 0, `the clean tree passes: ${clean.stderr}`);
  t.match(clean.stdout, /imports ok \(4 files, no cycles\)/);

  put('core/up.ts', "import { p } from '../proxy/index.js';\nexport const up = p;\n"); // core imports a room
  put('state/store.ts', "import { p } from '../proxy/index.js';\nexport const st = p;\n"); // state imports proxy
  put('admin/a.ts', "import { p } from '../proxy/p.js';\nexport const ad = p;\n"); // past proxy's index.ts
  put('controller/c.ts', "import { x } from '../config/index.js';\nexport const c = x;\n"); // config at runtime
  put('config/index.ts', 'export const x = 1;\n');
  put('analysis/x.ts', "import { Agent } from 'undici';\nexport const an = Agent;\n"); // undici outside its homes
  put('analysis/y.ts', "import type { Agent } from 'undici';\nexport type Y = Agent;\n"); // a type import is free
  put('analysis/m.ts', "import { Counter } from 'prom-client';\nexport const m = Counter;\n"); // not a metrics.ts
  put('analysis/metrics.ts', "import { Counter } from 'prom-client';\nexport const mm = Counter;\n"); // a metrics.ts: fine
  put('proxy/cycle-a.ts', "import { b } from './cycle-b.js';\nexport const a2 = b;\n");
  put('proxy/cycle-b.ts', "import type { a2 } from './cycle-a.js';\nexport const b = 1 as unknown as typeof a2;\n");
  put('newroom/n.ts', 'export const n = 1;\n'); // a room the script does not know
  put('bench/b.ts', "import { Agent } from 'undici';\nexport const bb = Agent;\n"); // bench/ is not a room
  const r = run(dir);
  t.equal(r.status, 1, 'violations fail the check');
  const lines = r.stderr.trim().split('\n');
  const expected = [
    'core/up.ts: core/ must not import proxy',
    'state/store.ts: state/ must not import proxy',
    'admin/a.ts: import proxy/ through its index.ts',
    'controller/c.ts: controller/ may import config/ for types only',
    'analysis/x.ts: undici belongs in',
    'analysis/m.ts: prom-client belongs in',
    'import cycle among proxy/cycle-a.ts, proxy/cycle-b.ts',
    'newroom/: a folder of .ts files that scripts/check-imports.mjs does not know',
  ];
  for (const e of expected)
    t.ok(
      lines.some((l) => l.includes(e)),
      `reported: ${e}`,
    );
  t.equal(lines.at(-1), `${expected.length} import rule violation(s)`, `nothing else is reported:\n${r.stderr}`);
});
