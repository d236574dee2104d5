/**
 * A torn write of StateStore must never cost the last good state: a writer killed (SIGKILL) in the middle of
 * its writes leaves the document at one complete version no older than the last write it finished, and its
 * half-written temp file is removed at the next start; a truncated document on disk is refused with a
 * clear error and left in place, never read as empty or overwritten by a start.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { StateStore } from '../state/index.js';

const STATE_MODULE = fileURLToPath(new URL('../state/index.js', import.meta.url));

function stateDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-torn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A child process that writes `doc.json` over and over ({n, pad}: ~256 KiB, so a kill lands mid-write often)
 * with `mode` ('sync': writeJson, 'later': writeJsonLater), printing n after each write is durable. Killed
 * with SIGKILL once it has reported `after` writes; resolves with the last n it reported.
 */
async function killMidWrite(dir: string, mode: 'sync' | 'later', after: number): Promise<number> {
  const code = `
    const { StateStore } = await import(${JSON.stringify(STATE_MODULE)});
    const s = new StateStore(${JSON.stringify(dir)});
    const pad = 'x'.repeat(256 * 1024);
    for (let n = 1; ; n++) {
      if (${JSON.stringify(mode)} === 'sync') s.writeJson('doc.json', { n, pad });
      else await s.writeJsonLater('doc.json', { n, pad });
      process.stdout.write(n + '\\n');
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let last = 0;
  for await (const line of createInterface({ input: child.stdout! })) {
    last = Number(line);
    if (last >= after) {
      child.kill('SIGKILL');
      break;
    }
  }
  await exited;
  return last;
}

for (const mode of ['sync', 'later'] as const) {
  t.test(`a writer killed mid-write (${mode}) leaves a complete document, no older than its last finished write`, async (t) => {
    const dir = stateDir(t);
    const good = { n: 0, pad: 'seed' };
    new StateStore(dir).writeJson('doc.json', good);
    for (let round = 1; round <= 3; round++) {
      const last = await killMidWrite(dir, mode, 5 * round);
      const s = new StateStore(dir);
      const doc = s.readJson<{ n: number; pad: string }>('doc.json');
      t.ok(
        doc && doc.n >= last,
        `round ${round}: the document is a complete version (n ${doc?.n}) at least as new as the last finished write (${last})`,
      );
      t.equal(doc?.pad.length, 256 * 1024, `round ${round}: and whole`);
      t.same(
        readdirSync(dir).filter((n) => n.endsWith('.tmp')),
        [],
        `round ${round}: no temp file left after the next start`,
      );
    }
  });
}

t.test('a half-written temp file from a dead writer never replaces the good document', async (t) => {
  const dir = stateDir(t);
  new StateStore(dir).writeJson('weights.json', { canary: 20 });
  writeFileSync(join(dir, 'weights.json.2147480011.tmp'), '{"canary": 9'); // a kill -9 between write and rename
  const s = new StateStore(dir);
  t.same(s.readJson('weights.json'), { canary: 20 }, 'the last good state is read');
  t.same(s.cleaned, ['weights.json.2147480011.tmp'], 'the torn temp file is removed at start');
  t.notOk(existsSync(join(dir, 'weights.json.2147480011.tmp')));
  s.writeJson('weights.json', { canary: 30 });
  t.same(new StateStore(dir).readJson('weights.json'), { canary: 30 }, 'and writing goes on as before');
});

t.test('a truncated document is refused with CANARYD_ERR_STATE_IO and left on disk as it was', async (t) => {
  const dir = stateDir(t);
  const torn = '{\n  "canary": 20,\n  "own';
  writeFileSync(join(dir, 'weights.json'), torn);
  const s = new StateStore(dir);
  t.throws(
    () => s.readJson('weights.json'),
    { code: 'CANARYD_ERR_STATE_IO', message: /weights\.json/ },
    'never read as empty or as a default',
  );
  t.equal(readFileSync(join(dir, 'weights.json'), 'utf8'), torn, 'the file is not touched: a person can still recover it');
  t.same(s.cleaned, [], 'a start removes temp files only');
});
