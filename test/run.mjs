#!/usr/bin/env node
// Runs the compiled tap suite (dist/test/**/*.test.js), streams tap's output, and ends with the plain
// closing line CI reads: "N passed, M failed" (assertions), exiting non-zero when anything failed.
// Extra args are passed to tap, e.g. `node test/run.mjs dist/test/proxy.test.js`.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const args = process.argv.slice(2);
const files = args.some((a) => a.endsWith('.js')) ? [] : findTests('dist/test');
const tapBin = join('node_modules', '@tapjs', 'run', 'dist', 'esm', 'index.js');
// CANARYD_TEST_PATIENCE (see test/helpers/admin.ts) also stretches tap's per-file timeout (180 s in package.json).
const patience = Number(process.env.CANARYD_TEST_PATIENCE ?? 1);
const timeoutArgs = Number.isFinite(patience) && patience > 1 ? [`--timeout=${Math.round(180 * patience)}`] : [];
const child = spawn(process.execPath, [tapBin, '--reporter=tap', ...timeoutArgs, ...args, ...files], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: '0' },
});
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on('close', (code) => {
  const m = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?/.exec(tail);
  const total = m ? Number(m[1]) : 0;
  const pass = m && m[2] ? Number(m[2]) : 0;
  const fail = m && m[3] ? Number(m[3]) : m ? total - pass - Number(m[4] ?? 0) - Number(m[5] ?? 0) : 1;
  const skip = m && m[4] ? Number(m[4]) : 0;
  const failed = code !== 0 && fail === 0 ? 1 : fail;
  console.log(`\n${pass} passed, ${failed} failed${skip ? `, ${skip} skipped` : ''}`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
