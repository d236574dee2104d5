/**
 * File mode stays safe: one live canaryd per state.dir, over real processes. A second canaryd on a live
 * process's state.dir refuses to start with CANARYD_ERR_STATE_LOCKED naming the owner's PID; after a
 * kill -9 of the owner the lock is stale and the next canaryd takes it over; a clean stop removes it.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, spawnCanaryd, tempDir } from './helpers/canaryd.js';
import { LOCK_FILE, StateDirLock } from '../state/index.js';

t.test('a second canaryd on a held state.dir refuses; kill -9 leaves a stale lock that is taken over', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  t.teardown(async () => (await base.close(), await can.close()));
  const stateDir = tempDir();
  const yaml = configYaml(base.url, can.url, '', stateDir);
  const first = await spawnCanaryd(yaml);
  t.teardown(() => void first.child.kill('SIGKILL'));
  const owner = JSON.parse(readFileSync(join(stateDir, LOCK_FILE), 'utf8'));
  t.equal(owner.pid, first.child.pid, 'the lock file names the owner PID');

  const refused = await spawnCanaryd(yaml).then(
    () => null,
    (e: Error) => e.message,
  );
  t.ok(refused, 'the second canaryd did not start');
  t.match(refused, /CANARYD_ERR_STATE_LOCKED/, 'with the coded error');
  t.match(refused, new RegExp(`pid ${first.child.pid}\\b`), 'naming the owner PID');
  t.equal(first.child.exitCode, null, 'the owner keeps running');

  first.child.kill('SIGKILL');
  await first.exited;
  t.ok(existsSync(join(stateDir, LOCK_FILE)), 'kill -9 leaves the lock file behind');
  const third = await spawnCanaryd(yaml);
  t.teardown(() => void third.child.kill('SIGKILL'));
  const took = await third.waitForLog((l) => l.event === 'state_lock_taken_over');
  t.equal((took.previous as { pid: number }).pid, first.child.pid, 'the stale lock of the killed PID is taken over');
  t.equal(JSON.parse(readFileSync(join(stateDir, LOCK_FILE), 'utf8')).pid, third.child.pid);
  third.child.kill('SIGTERM');
  t.equal(await third.exited, 0);
  t.notOk(existsSync(join(stateDir, LOCK_FILE)), 'a clean stop removes the lock');
});

t.test('a lock from another host is stale only once its mtime is older than 3 refresh periods', async (t) => {
  const dir = tempDir();
  const { writeFileSync, utimesSync } = await import('node:fs');
  const path = join(dir, LOCK_FILE);
  writeFileSync(path, JSON.stringify({ pid: 1, host: 'another-host', startedAt: 0 }));
  const lock = new StateDirLock(dir, { refreshMs: 1000 });
  const now = Date.now();
  t.throws(() => lock.acquire(now), { code: 'CANARYD_ERR_STATE_LOCKED' }, 'a fresh foreign lock holds');
  const old = new Date(now - 10_000);
  utimesSync(path, old, old);
  t.same(lock.acquire(now).tookOverFrom, { pid: 1, host: 'another-host', startedAt: 0 }, 'an old one is taken over');
  lock.release();
  t.notOk(existsSync(path));
});
