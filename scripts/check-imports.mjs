#!/usr/bin/env node
// `npm run lint`: the direction of imports is checked, not hoped for (docs/ENGINEERING.md).
//  - core/ imports nothing of ours; proxy/ and analysis/ never import each other;
//  - a folder imports another folder only through its index.ts;
//  - each third-party package lives in its one place.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

const ROOT = process.cwd();
const FOLDERS = ['core', 'config', 'proxy', 'chaos', 'analysis', 'admin', 'cli', 'state', 'controller', 'demo', 'fleet'];
// chaos/ (fault control) drives the fault engine through proxy/index.ts; proxy/ never imports chaos/
const FORBIDDEN = { core: ['config', 'proxy', 'chaos', 'analysis', 'admin', 'cli', 'state', 'controller', 'demo', 'fleet'], proxy: ['chaos', 'analysis', 'admin', 'controller', 'fleet'], chaos: ['analysis', 'admin', 'controller', 'fleet', 'state', 'cli', 'demo'], analysis: ['proxy', 'chaos', 'admin', 'controller', 'config', 'state', 'fleet'], config: ['proxy', 'chaos', 'analysis', 'admin', 'controller'], fleet: ['config', 'proxy', 'chaos', 'analysis', 'admin', 'controller', 'state', 'cli', 'demo'] };
const PACKAGE_HOME = { undici: ['proxy/upstream.ts', 'proxy/exchange.ts', 'proxy/mirror.ts', 'demo/', 'cli/', 'controller/'], fastify: ['admin/'], 'prom-client': ['proxy/metrics.ts', 'sidecar.ts', 'controller/', 'proxy/faults/', 'proxy/tcp/metrics.ts', 'admin/'], yaml: ['config/'], ajv: ['config/'], '@sinclair/typebox': ['config/'], ioredis: ['fleet/redis.ts'] };

function files(dir) {
  const out = [];
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) {
      if (n !== 'web' && n !== 'node_modules') out.push(...files(p));
    } else if (n.endsWith('.ts')) out.push(p);
  }
  return out;
}

const problems = [];
const all = FOLDERS.filter((f) => { try { return statSync(f).isDirectory(); } catch { return false; } }).flatMap((f) => files(f)).concat(['sidecar.ts']);
for (const file of all) {
  const rel = relative(ROOT, file);
  const from = rel.split('/')[0];
  const src = readFileSync(file, 'utf8');
  for (const m of src.matchAll(/^\s*(import|export)(\s+type\b)?[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
    const spec = m[3];
    const typeOnly = m[2] !== undefined;
    if (spec.startsWith('.')) {
      const target = relative(ROOT, resolve(dirname(file), spec));
      const to = target.split('/')[0];
      if (to === from || to.endsWith('.js')) continue;
      if ((FORBIDDEN[from] ?? []).includes(to)) problems.push(`${rel}: ${from}/ must not import ${to}/ (${spec})`);
      if (!/\/index\.js$/.test(target) && FOLDERS.includes(to)) problems.push(`${rel}: import ${to}/ through its index.ts, not ${spec}`);
    } else {
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      const homes = PACKAGE_HOME[pkg];
      if (homes && !typeOnly && !homes.some((h) => rel === h || rel.startsWith(h))) problems.push(`${rel}: ${pkg} belongs in ${homes.join(', ')}`);
    }
  }
}
if (problems.length) {
  console.error(problems.join('\n'));
  console.error(`${problems.length} import rule violation(s)`);
  process.exit(1);
}
console.log(`imports ok (${all.length} files)`);
