/**
 * A real canaryd starts on a 1 GB audit log (issue 11 item 8: such a log once made start-up take seconds
 * and 800 MB, and at 630 MB exit 1 with ERR_STRING_TOO_LONG), gets ready and lists the newest decisions.
 * The test asserts correctness only; it prints the start time and RSS next to a start on an empty state.dir
 * (the ratio, recorded in bench/RESULTS.md).
 */
import t from 'tap';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { configYaml, spawnCanaryd, tempDir } from './helpers/canaryd.js';

// writing 1 GB and two process starts on a loaded machine: waits (never assertions) get more room
process.env.CANARYD_TEST_PATIENCE ??= '4';
t.setTimeout(900_000);

function report(): any {
  const check = { name: 'slo.errorRate', kind: 'slo', status: 'pass', critical: true, hard: false, message: 'x'.repeat(2000) };
  return {
    at: 1,
    window: { from: 0, to: 1 },
    verdict: 'pass',
    hardBreach: false,
    nonInferior: true,
    score: 90,
    moreCanaryRequestsNeeded: null,
    reasons: ['r'],
    arms: {
      baseline: { requests: 100, errors: 1, errorRate: 0.01, p50Ms: 1, p95Ms: 2, p99Ms: 3, faultedRequests: 0 },
      canary: { requests: 50, errors: 0, errorRate: 0, p50Ms: 1, p95Ms: 2, p99Ms: 3, faultedRequests: 0 },
    },
    checks: Array.from({ length: 4 }, (_, i) => ({ ...check, name: `check${i}` })),
  };
}

/** Writes `bytes` of decision lines (full ~8.7 KB reports, the old format) plus a rollback near the start. */
export function writeBigAudit(path: string, bytes: number): { lastAt: number } {
  const fd = openSync(path, 'w');
  const rep = report();
  let at = 1_700_000_000_000;
  writeSync(
    fd,
    JSON.stringify({
      at: at++,
      type: 'rollback',
      rolloutId: 1,
      step: 1,
      reason: 'early rollback',
      reasons: ['early rollback'],
      source: 'analysis',
    }) + '\n',
  );
  let written = 0;
  while (written < bytes) {
    const lines: string[] = [];
    for (let i = 0; i < 400; i++)
      lines.push(
        JSON.stringify({
          at: at++,
          action: 'CONTINUE',
          step: 2,
          canaryWeight: 25,
          reasons: ['continue'],
          report: rep,
          source: 'analysis',
          type: 'decision',
          rolloutId: 2,
          reason: 'continue',
        }),
      );
    const chunk = lines.join('\n') + '\n';
    writeSync(fd, chunk);
    written += Buffer.byteLength(chunk);
  }
  closeSync(fd);
  return { lastAt: at - 1 };
}

export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

t.test('a real canaryd starts on a 1 GB audit log, gets ready and lists the newest decisions', async (t) => {
  const startOn = async (stateDir: string) => {
    const t0 = process.hrtime.bigint();
    const p = await spawnCanaryd(configYaml('http://127.0.0.1:1', 'http://127.0.0.1:2', '', stateDir));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { p, ms, rss: rssKb(p.child.pid!) };
  };
  const plain = await startOn(tempDir());
  plain.p.child.kill('SIGTERM');
  await plain.p.exited;

  const stateDir = tempDir();
  const { lastAt } = writeBigAudit(join(stateDir, 'audit.jsonl'), 1024 ** 3);
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const big = await startOn(stateDir);
  t.teardown(async () => {
    big.p.child.kill('SIGTERM');
    await big.p.exited;
  });
  const ready = await request(`${big.p.adminUrl}/readyz`);
  t.equal(ready.statusCode, 200, 'ready');
  await ready.body.dump();
  const decisions = (await (await request(`${big.p.adminUrl}/api/v1/decisions?limit=3`)).body.json()) as any;
  t.same(
    decisions.decisions.map((d: any) => d.at),
    [lastAt, lastAt - 1, lastAt - 2],
    'the newest decisions, newest first',
  );
  t.ok(existsSync(join(stateDir, 'audit.jsonl')), 'the log is still there');
  t.comment(
    `start: ${plain.ms.toFixed(0)} ms on an empty state.dir, ${big.ms.toFixed(0)} ms on a 1 GB audit log (ratio ${(big.ms / plain.ms).toFixed(2)}); RSS ${(plain.rss / 1024).toFixed(0)} MB vs ${(big.rss / 1024).toFixed(0)} MB (machine load: ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})`,
  );
});
