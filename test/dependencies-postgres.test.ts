/**
 * The dependency relay in front of a real PostgreSQL 15 (initdb + postgres in a temp dir, started here; as
 * root it runs as `nobody`, since postgres refuses root), driven by the `pg` client: a query loop through
 * the listener survives a resetPeer fault by reconnecting, and fails as expected while `refuse` holds.
 * Skips, naming the reason, only when PostgreSQL is not installed (.ci/run installs it).
 */
import t from 'tap';
import pg from 'pg';
import { startRelay, type RelaySetup } from './helpers/dependencies.js';
import { pgUnavailable, startPostgres, type Service } from './helpers/services.js';

const why = pgUnavailable();
if (why !== null) {
  t.test(`PostgreSQL tests skipped: ${why}`, { skip: why }, () => {});
} else {
  let db: Service;
  let relay: RelaySetup;
  t.before(async () => {
    db = await startPostgres();
    relay = await startRelay('postgres', db.port);
  });
  t.teardown(async () => {
    await relay?.stop();
    await db?.stop();
  });

  const connect = async () => {
    const c = new pg.Client({
      host: '127.0.0.1',
      port: relay.port(),
      user: 'postgres',
      database: 'postgres',
      connectionTimeoutMillis: 5000,
    });
    c.on('error', () => {}); // a reset connection reports here too; the query's rejection is what the loop sees
    await c.connect();
    return c;
  };

  /**
   * The app's query loop: one client, reconnecting when a query fails. Returns each iteration's outcome:
   * "ok" (the answer was right), "error" (the query failed), "reconnected" (a new client was made).
   */
  async function queryLoop(n: number, onIteration: (i: number) => Promise<void>): Promise<string[]> {
    const out: string[] = [];
    let c: pg.Client | null = await connect();
    for (let i = 0; i < n; i++) {
      await onIteration(i);
      try {
        if (c === null) {
          c = await connect();
          out.push('reconnected');
        }
        const r = await c.query('SELECT $1::int * 2 AS v, repeat($2, 1000) AS pad', [i, 'x']);
        out.push(r.rows[0].v === i * 2 && r.rows[0].pad.length === 1000 ? 'ok' : 'wrong');
      } catch {
        out.push('error');
        await c?.end().catch(() => {});
        c = null;
      }
    }
    await c?.end().catch(() => {});
    return out;
  }

  t.test('a query loop survives resetPeer: the query in flight fails, the reconnect works', async (t) => {
    const out = await queryLoop(30, async (i) => {
      if (i === 10) await relay.rule({ name: 'pg-reset', resetPeer: { afterBytes: 0 } });
      if (i === 11) await relay.remove('pg-reset');
    });
    t.same(out.slice(0, 10), Array(10).fill('ok'), 'clean before the fault');
    t.equal(out[10], 'error', 'the query after the reset fails');
    t.equal(out.filter((x) => x === 'reconnected').length, 1, 'one reconnect');
    t.same(out.slice(-15), Array(15).fill('ok'), 'clean after it');
    t.notOk(out.includes('wrong'), 'no wrong answer, ever');
  });

  t.test('refuse: connecting fails while it holds; open connections carry on; lifted, connecting works', async (t) => {
    const open = await connect();
    await relay.rule({ name: 'pg-refuse', refuse: {} });
    await t.rejects(connect(), 'a new connection is refused');
    t.equal((await open.query('SELECT 1 AS one')).rows[0].one, 1, 'an open connection still answers');
    const out = await queryLoop(3, async () => {}).catch((e: Error) => [`connect failed: ${e.message}`]);
    t.match(out[0], /connect failed/, 'the loop cannot even connect while refuse holds');
    await relay.remove('pg-refuse').catch(() => {});
    const again = await queryLoop(3, async () => {});
    t.same(again, ['ok', 'ok', 'ok'], 'lifted: the loop connects and queries');
    t.ok((await relay.view()).connections.rejected.fault >= 2, 'refused connections are counted');
    await open.end();
  });
}
