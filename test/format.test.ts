/**
 * The code is formatted by Prettier (.prettierrc.json: printWidth 140, single quotes), checked here so CI
 * fails on an unformatted file (`npm run format` fixes it). A badly formatted file is seen to fail the same
 * check, so this test can fail.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const PRETTIER = resolve('node_modules/prettier/bin/prettier.cjs');
const check = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [PRETTIER, '--check', ...args], { cwd, encoding: 'utf8' });

t.test('every TypeScript and script file is formatted (npm run format)', async (t) => {
  const r = check(process.cwd(), '.');
  t.equal(r.status, 0, `unformatted files:\n${r.stdout}${r.stderr}`);
});

t.test('an unformatted file fails the same check', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-format-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(resolve('.prettierrc.json'), join(dir, '.prettierrc.json'));
  writeFileSync(join(dir, 'ok.ts'), "export const a = { b: 'c' };\n");
  writeFileSync(join(dir, 'bad.ts'), 'export const a = {b:"c"}\n');
  t.equal(check(dir, 'ok.ts').status, 0, 'a formatted file passes');
  const bad = check(dir, 'bad.ts');
  t.not(bad.status, 0, 'an unformatted one fails');
  t.match(bad.stdout + bad.stderr, /bad\.ts/, 'and is named');
});
