#!/usr/bin/env node
// `npm run lint`: the direction of imports is checked, not hoped for (CONTRIBUTING.md, docs/architecture.md).
//  - each room (top-level folder) imports only the rooms its FORBIDDEN entry leaves it; core/ imports none;
//  - some rooms may read another only for its types (TYPE_ONLY): erased at build, no runtime arrow;
//  - a folder imports another folder only through its index.ts;
//  - each third-party package lives in its one place (PACKAGE_HOME);
//  - no import cycle between files (type-only imports included: a cycle of types is still a tangle);
//  - every top-level folder holding .ts files is a room listed here, so a new room cannot slip past the rules.
// `--report` prints the rules and the file graph's cycles without failing (for a person reading the rules).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

const ROOT = process.cwd();
const FOLDERS = [
  'core',
  'config',
  'proxy',
  'analysis',
  'admin',
  'cli',
  'state',
  'controller',
  'demo',
  'fleet',
  'traffic',
  'chaos',
  'contract',
  'tracing',
  'workers',
];
/** top-level folders with .ts files that are not product rooms */
const NOT_ROOMS = ['bench', 'test', 'scripts', 'node_modules', 'dist', 'docs', 'examples', 'deploy', 'test-artifacts'];
/** the composition roots: the process that holds the controller, and a data-plane worker's (workers: N) */
const ROOTS = ['sidecar.ts', 'worker.ts'];
const EVERY_ROOM = [...FOLDERS, ...ROOTS];
const except = (...keep) => EVERY_ROOM.filter((r) => !keep.includes(r));
/** room → rooms it must not import. The composition roots (sidecar.ts, worker.ts), cli/ and demo/ may import anything. */
const FORBIDDEN = {
  core: except(),
  config: except('core'),
  state: except('core'),
  traffic: except('core'),
  analysis: except('core'),
  fleet: except('core'),
  contract: except('core'),
  workers: except('core'),
  proxy: except('core', 'config'),
  // chaos control drives the fault engine through proxy's index; it knows nothing of the rooms above it
  chaos: except('core', 'config', 'proxy'),
  // tracing is a stage of the proxy's chain (it implements proxy's types); the proxy knows nothing of it
  tracing: except('core', 'config', 'proxy'),
  controller: except('core', 'config', 'analysis', 'traffic', 'contract'),
  admin: except('core', 'config', 'proxy', 'traffic', 'chaos', 'contract'),
};
/** room → rooms it may import for types only (`import type`) */
const TYPE_ONLY = { controller: ['config'], tracing: ['config'] };
/**
 * package → the files (exact; `**` then `/name.ts`: that file name in any folder) or folders (ending in /) it may be imported
 * from at runtime. `import type` is
 * free: it is erased at build. prom-client's home is a room's metrics module (`metrics.ts`) — the registry is
 * the composition root's — so a new room's gauges go in its own metrics.ts.
 */
const PACKAGE_HOME = {
  undici: ['proxy/upstream.ts', 'controller/prometheus.ts', 'controller/webhooks.ts', 'demo/'],
  fastify: ['admin/'],
  '@fastify/swagger': ['admin/server.ts'],
  ws: ['admin/', 'cli/ctl/'],
  'prom-client': [
    '**/metrics.ts',
    'sidecar.ts',
    'worker.ts',
    'admin/metrics-listener.ts',
    'controller/finops.ts',
    'controller/prometheus.ts',
  ],
  pino: ['sidecar.ts', 'worker.ts'],
  yaml: ['config/'],
  ajv: ['config/'],
  'ajv-formats': ['config/'],
  '@sinclair/typebox': ['config/', 'contract/'],
  ioredis: ['fleet/redis.ts'],
};

/**
 * Cycles known on main, each with the move that removes it (issue 13). They are printed, not failed, so the
 * rest of the check guards main meanwhile; a new cycle fails. Delete an entry once its cycle is gone.
 */
const KNOWN_CYCLES = [];

function files(dir) {
  const out = [];
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) {
      if (n !== 'web' && n !== 'node_modules') out.push(...files(p));
    } else if (n.endsWith('.ts') && !n.endsWith('.d.ts')) out.push(p);
  }
  return out;
}
const isDir = (p) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};
const homeHolds = (h, rel) =>
  rel === h || (h.endsWith('/') && rel.startsWith(h)) || (h.startsWith('**/') && (rel === h.slice(3) || rel.endsWith(h.slice(2))));

const problems = [];
for (const d of readdirSync(ROOT)) {
  if (d.startsWith('.') || NOT_ROOMS.includes(d) || FOLDERS.includes(d) || !isDir(d)) continue;
  if (files(d).length > 0)
    problems.push(
      `${d}/: a folder of .ts files that scripts/check-imports.mjs does not know; add it to FOLDERS (and its FORBIDDEN rooms) or to NOT_ROOMS`,
    );
}
const all = FOLDERS.filter(isDir)
  .flatMap((f) => files(f))
  .concat(ROOTS.filter((r) => statSync(r, { throwIfNoEntry: false })));
/** file → files it imports (relative imports only), for the cycle check */
const graph = new Map();
for (const file of all) {
  const rel = relative(ROOT, file);
  const from = rel.split('/')[0];
  const src = readFileSync(file, 'utf8');
  const deps = [];
  for (const m of src.matchAll(/^\s*(import|export)(\s+type\b)?[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
    const spec = m[3];
    const typeOnly = m[2] !== undefined;
    if (spec.startsWith('.')) {
      const target = relative(ROOT, resolve(dirname(file), spec));
      deps.push(target.replace(/\.js$/, '.ts'));
      const to = target.split('/')[0].replace(/\.js$/, '.ts');
      if (to === from) continue;
      if ((FORBIDDEN[from] ?? []).includes(to)) problems.push(`${rel}: ${from}/ must not import ${to} (${spec})`);
      if (!typeOnly && (TYPE_ONLY[from] ?? []).includes(to))
        problems.push(`${rel}: ${from}/ may import ${to}/ for types only (import type ... from '${spec}')`);
      if (!/\/index\.js$/.test(target) && FOLDERS.includes(to)) problems.push(`${rel}: import ${to}/ through its index.ts, not ${spec}`);
    } else {
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      const homes = PACKAGE_HOME[pkg];
      if (homes && !typeOnly && !homes.some((h) => homeHolds(h, rel))) problems.push(`${rel}: ${pkg} belongs in ${homes.join(', ')}`);
    }
  }
  graph.set(rel, deps);
}

/** Strongly connected components of more than one file (Tarjan), i.e. the import cycles. */
function cycles(g) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1) out.push(scc.sort());
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}
const notes = [];
for (const c of cycles(graph)) {
  const known = KNOWN_CYCLES.some((k) => k.length === c.length && k.every((f) => c.includes(f)));
  (known ? notes : problems).push(`import cycle among ${c.join(', ')}${known ? ' (known, KNOWN_CYCLES)' : ''}`);
}

if (process.argv.includes('--report')) {
  console.log([...problems, ...notes].join('\n') || 'no problems');
  process.exit(0);
}
if (problems.length) {
  console.error(problems.join('\n'));
  console.error(`${problems.length} import rule violation(s)`);
  process.exit(1);
}
if (notes.length) console.log(notes.join('\n'));
console.log(`imports ok (${all.length} files, ${notes.length ? `${notes.length} known cycle(s), no new one` : 'no cycles'})`);
