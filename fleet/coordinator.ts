/**
 * One replica's membership in the fleet, on its own beat (fleet.heartbeat, 1 s): heartbeat, evidence out,
 * the leader lease, and a reconcile of the shared state. Nothing here runs on the request path.
 *
 *  - Leader: whoever takes the lease (fleet/redis.ts LEASE). It alone judges (the host ticks its
 *    controller only while `leading`), and its state writes carry the fencing token; a write with an old
 *    token is refused inside Redis, and the refused replica steps down and adopts the fleet's state.
 *    Locally it believes its lease only until `renewed + ttl - margin` on the monotonic clock, so a leader
 *    paused by SIGSTOP stops judging the moment it wakes, before its first (refused) write.
 *  - Followers adopt the shared state on the publish of each write ("state <seq>") and on every beat
 *    (the reconcile: one HGET of the seq), so a missed message costs at most one beat.
 *  - Operator commands sent to a follower travel through the `commands` list to the leader; the reply
 *    comes back on the channel.
 *  - Redis down: every call fails fast; the replica keeps its last weights; a leader whose lease it cannot
 *    renew steps down when it lapses, so promotions stop. Commands queue locally (rollback) and are sent
 *    when Redis is back.
 */
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { CanarydError, ERROR_CODES, RemoteEvidence, toWire, type VersionName, type WindowRecord, type WireWindow } from '../core/index.js';
import { connectRedis, fleetKeys, type FleetConnection, type FleetKeys, type FleetRedis } from './redis.js';

export interface FleetSettings {
  connection: FleetConnection;
  service: string;
  keyPrefix: string;
  replica: string;
  leaseTtlMs: number;
  heartbeatMs: number;
  /** how long windows are kept (in Redis and in the leader's cache): at least one rollout step */
  evidenceKeepMs: number;
  commandTimeoutMs: number;
}

export interface FleetCommand {
  id: string;
  from: string;
  op: string;
  args: Record<string, unknown>;
  /** when a command taken while Redis was down was queued (epoch ms) */
  queuedAt?: number;
}

/** How long a queued command (a local rollback) keeps being offered to the leader. */
const QUEUED_COMMAND_TTL_MS = 5 * 60_000;

export interface FleetLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What the coordinator needs of its replica (wired in sidecar.ts). */
export interface FleetHost {
  windowMs: number;
  localWindows(version: VersionName, fromMs: number, toMs: number): WindowRecord[];
  heartbeat(): Record<string, unknown>;
  /** the fleet's documents (rollout.json, weights.json, ...), to take as this replica's own */
  adopt(docs: Record<string, unknown>, seq: number): void;
  leadership(leading: boolean, token: number): void;
  execute(cmd: FleetCommand): Promise<unknown>;
  log: FleetLog;
}

export interface ReplicaView {
  id: string;
  ageMs: number;
  leader: boolean;
  [k: string]: unknown;
}

export class FleetCoordinator {
  readonly settings: FleetSettings;
  readonly keys: FleetKeys;
  readonly evidence: RemoteEvidence;
  readonly #host: FleetHost;
  #redis: FleetRedis;
  #sub: FleetRedis;
  #timer: NodeJS.Timeout | null = null;
  #token = 0;
  #leading = false;
  #validUntil = 0;
  #seenSeq = 0;
  #connected = false;
  #leaderId: string | null = null;
  #replicas: ReplicaView[] = [];
  #pushedTo = 0;
  #pulledTo = new Map<string, number>();
  #outDocs = new Map<string, unknown>();
  #outLines: unknown[] = [];
  #flushing: Promise<void> | null = null;
  #pulling: Promise<void> | null = null;
  #beating = false;
  #beats = 0;
  #expirySetAt = 0;
  #pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  #queuedCommands: FleetCommand[] = [];
  #stopped = false;
  /** Redis commands sent, for the ops/s figure in the bench and status */
  commandsSent = 0;

  constructor(settings: FleetSettings, host: FleetHost, evidence = new RemoteEvidence(settings.evidenceKeepMs)) {
    this.settings = settings;
    this.#host = host;
    this.keys = fleetKeys(settings.keyPrefix, settings.service);
    this.evidence = evidence;
    this.#redis = connectRedis(settings.connection);
    this.#sub = connectRedis(settings.connection, true);
    this.#sub.on('message', (_ch: string, msg: string) => this.#onMessage(msg));
    this.#redis.on('ready', () => this.#setConnected(true));
    this.#redis.on('close', () => this.#setConnected(false));
  }

  get leading(): boolean {
    return this.#leading && performance.now() < this.#validUntil;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get token(): number {
    return this.#token;
  }

  /** Connects and takes the fleet's state before the replica serves (a restart never keeps a stale copy). */
  async start(): Promise<void> {
    this.#sub.connect().catch(() => undefined);
    void this.#sub.subscribe(this.keys.channel).catch(() => undefined);
    try {
      await this.#redis.connect();
      await this.#pull();
    } catch (e) {
      this.#host.log.warn(
        { event: 'fleet_unreachable', err: (e as Error).message },
        'fleet: Redis unreachable at start; serving with the local state until it is back',
      );
    }
    await this.#beat();
    this.#timer = setInterval(() => void this.#beat(), this.settings.heartbeatMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new CanarydError('CANARYD_ERR_FLEET_UNAVAILABLE', 'canaryd is stopping'));
    }
    this.#pending.clear();
    if (this.#connected) {
      try {
        await this.#flushNow();
        // hand the lease on at once instead of letting it lapse
        if (this.#leading)
          await this.#redis.eval(
            `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
            1,
            this.keys.leader,
            this.settings.replica,
          );
        await this.#redis.hdel(this.keys.replicas, this.settings.replica);
      } catch {
        /* Redis gone: the lease lapses and the heartbeat ages out */
      }
    }
    this.#redis.disconnect();
    this.#sub.disconnect();
  }

  /** Queues a state write made on this replica (StateStore observer); sent, fenced, at once if leading. */
  record(kind: 'doc' | 'line', name: string, value: unknown): void {
    if (!this.#leading) return; // followers' local copies are theirs; the fleet's state is the leader's
    if (kind === 'doc') this.#outDocs.set(name, value);
    else if (name === 'audit.jsonl') this.#outLines.push(value);
    else return;
    void this.#flush();
  }

  /** Sends an operator command to the leader and waits for its answer. */
  async send(op: string, args: Record<string, unknown> = {}): Promise<unknown> {
    const cmd: FleetCommand = { id: randomUUID(), from: this.settings.replica, op, args };
    if (!this.#connected) throw new CanarydError('CANARYD_ERR_FLEET_UNAVAILABLE', `fleet: Redis is unreachable; ${op} needs the leader`);
    // the leader's reply comes back on the channel: with the subscriber still reconnecting the command would
    // run on the leader and its answer be lost (the caller told 503 for a command that was applied)
    if (this.#sub.status !== 'ready')
      throw new CanarydError('CANARYD_ERR_FLEET_UNAVAILABLE', `fleet: the reply channel is reconnecting; retry ${op}`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(cmd.id);
        reject(
          new CanarydError('CANARYD_ERR_FLEET_UNAVAILABLE', `fleet: no leader answered ${op} within ${this.settings.commandTimeoutMs} ms`),
        );
      }, this.settings.commandTimeoutMs);
      this.#pending.set(cmd.id, { resolve, reject, timer });
      this.#ops(2);
      this.#redis
        .multi()
        .rpush(this.keys.commands, JSON.stringify(cmd))
        .publish(this.keys.channel, 'command')
        .exec()
        .catch((e: Error) => {
          clearTimeout(timer);
          this.#pending.delete(cmd.id);
          reject(new CanarydError('CANARYD_ERR_FLEET_UNAVAILABLE', `fleet: cannot reach Redis: ${e.message}`));
        });
    });
  }

  /** A command taken while Redis was down (a local rollback): sent to the leader once it is back. */
  queueForLeader(op: string, args: Record<string, unknown> = {}): void {
    this.#queuedCommands.push({ id: randomUUID(), from: this.settings.replica, op, args, queuedAt: Date.now() });
  }

  /**
   * A queued command whose send failed because no leader answered (Redis flapping, a leader changing hands):
   * queued again for the next beat, for up to QUEUED_COMMAND_TTL_MS — a rollback must not be lost to a race.
   */
  #requeue(c: FleetCommand, e: CanarydError): void {
    const age = Date.now() - (c.queuedAt ?? 0);
    if (e.code === 'CANARYD_ERR_FLEET_UNAVAILABLE' && age < QUEUED_COMMAND_TTL_MS) {
      this.#queuedCommands.push({ ...c, id: randomUUID() });
      return;
    }
    this.#host.log.warn({ event: 'fleet_command_failed', op: c.op, err: e.message, ageMs: age }, `fleet: queued ${c.op} failed`);
  }

  status(): Record<string, unknown> {
    const now = Date.now();
    return {
      service: this.settings.service,
      replica: this.settings.replica,
      leader: this.#leaderId,
      leading: this.leading,
      token: this.#token,
      connected: this.#connected,
      seq: this.#seenSeq,
      redisCommandsSent: this.commandsSent,
      replicas: this.#replicas.map((r) => ({ ...r, ageMs: now - Number(r.at ?? 0) })),
    };
  }

  /** The fleet's audit trail, newest first. */
  async audit(limit: number): Promise<unknown[]> {
    this.#ops(1);
    const rows = await this.#redis.xrevrange(this.keys.audit, '+', '-', 'COUNT', limit);
    return rows.map(([id, fields]) => ({ id, ...JSON.parse(fields[1]) }));
  }

  // ---- the beat ----

  async #beat(): Promise<void> {
    if (this.#beating || this.#stopped) return;
    this.#beating = true;
    try {
      await this.#beatOnce();
    } catch (e) {
      this.#lost(e);
    } finally {
      this.#beating = false;
    }
  }

  async #beatOnce(): Promise<void> {
    const now = Date.now();
    const k = this.keys;
    const win = this.#host.windowMs;
    const upTo = Math.floor(now / win) * win - win; // completed windows only; one window of slack
    const out: string[] = [];
    if (upTo > this.#pushedTo) {
      const from = this.#pushedTo === 0 ? upTo - this.settings.evidenceKeepMs : this.#pushedTo;
      for (const v of ['baseline', 'canary'] as const)
        for (const w of this.#host.localWindows(v, from, upTo))
          if (w.start >= from && w.clean.requests + w.faulted.requests > 0) out.push(JSON.stringify(toWire(w)));
    }
    const hb = JSON.stringify({ at: now, leader: this.#leading, ...this.#host.heartbeat() });
    // a few commands per beat whatever the request rate: the member list is read every beat only by the
    // leader (it needs it to pull evidence), by followers every 4th; the evidence expiry is refreshed every 10 beats
    const beat = this.#beats++;
    const readMembers = this.#leading || beat % 4 === 0;
    const m = this.#redis.multi().hset(k.replicas, this.settings.replica, hb).get(k.leader).hget(k.state, 'seq');
    if (readMembers) m.hgetall(k.replicas);
    const ev = k.evidence(this.settings.replica);
    if (out.length > 0) m.rpush(ev, ...out).ltrim(ev, -Math.ceil((2 * this.settings.evidenceKeepMs) / win), -1);
    const refreshExpiry =
      out.length > 0 && now - this.#expirySetAt > Math.min(10 * this.settings.heartbeatMs, this.settings.evidenceKeepMs / 2);
    if (refreshExpiry) m.pexpire(ev, this.settings.evidenceKeepMs);
    const sentAt = performance.now();
    const token = await this.#redis.fleetLease(k.leader, k.fence, this.settings.replica, this.settings.leaseTtlMs, String(this.#token));
    const res = await m.exec();
    this.#ops(1 + 3 + (readMembers ? 1 : 0) + (out.length > 0 ? 2 : 0) + (refreshExpiry ? 1 : 0));
    if (!res) throw new Error('pipeline aborted');
    for (const [err] of res) if (err) throw err;
    if (out.length > 0) this.#pushedTo = upTo;
    if (refreshExpiry) this.#expirySetAt = now;
    this.#leaderId = (res[1][1] as string | null) ?? null;
    const seq = Number(res[2][1] ?? 0);
    if (readMembers)
      this.#replicas = Object.entries((res[3][1] as Record<string, string>) ?? {}).map(
        ([id, j]) => ({ id, ...(JSON.parse(j) as object) }) as ReplicaView,
      );
    this.#setConnected(true);

    if (token > 0) {
      this.#validUntil = sentAt + this.settings.leaseTtlMs - Math.min(500, this.settings.leaseTtlMs / 4);
      if (!this.#leading || token !== this.#token) await this.#becomeLeader(token);
      await this.#pullEvidence(now);
      await this.#drainCommands();
    } else {
      if (this.#leading) this.#stepDown(`the lease is held by ${this.#leaderId}`);
      if (seq > this.#seenSeq) await this.#pull();
    }
    if (this.#queuedCommands.length > 0 && this.#leaderId !== null) {
      const queued = this.#queuedCommands.splice(0);
      for (const c of queued) {
        if (this.#leading) await this.#run(c);
        else void this.send(c.op, c.args).catch((e: CanarydError) => this.#requeue(c, e));
      }
    }
  }

  async #becomeLeader(token: number): Promise<void> {
    // the fleet's state first, whatever this replica did alone: its machine may be behind (a follower),
    // stale (a restart) or changed locally while Redis was down (a local rollback, re-sent as a command)
    await this.#pull(true);
    this.#token = token;
    this.#leading = true;
    this.#outDocs.clear();
    this.#outLines = [];
    this.#pulledTo.clear();
    this.evidence.clear();
    this.#host.log.info(
      { event: 'fleet_leader', replica: this.settings.replica, token },
      `fleet: this replica leads (fencing token ${token})`,
    );
    this.#host.leadership(true, token);
  }

  #stepDown(why: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#validUntil = 0;
    this.#outDocs.clear();
    this.#outLines = [];
    this.#host.log.warn({ event: 'fleet_follower', replica: this.settings.replica, reason: why }, `fleet: no longer leading: ${why}`);
    this.#host.leadership(false, this.#token);
  }

  #lost(e: unknown): void {
    if (this.#connected)
      this.#host.log.warn(
        { event: 'fleet_unreachable', err: (e as Error).message },
        'fleet: Redis unreachable; serving with the last weights, promotions stop',
      );
    this.#connected = false;
    // the lease may still be ours in Redis until it lapses, but no write can be fenced now: stop judging
    // when it would have lapsed (a rollback from the admin API stays possible, locally)
    if (this.#leading && performance.now() >= this.#validUntil) this.#stepDown('Redis unreachable and the lease lapsed');
  }

  #setConnected(up: boolean): void {
    if (up && !this.#connected) this.#host.log.info({ event: 'fleet_connected' }, 'fleet: Redis reachable');
    this.#connected = up;
  }

  // ---- state in and out ----

  /** Takes the fleet's state if newer than what this replica saw (`force`: even if not, e.g. a new leader). */
  async #pull(force = false): Promise<void> {
    if (this.#pulling) await this.#pulling;
    this.#pulling = (async () => {
      this.#ops(1);
      const h = await this.#redis.hgetall(this.keys.state);
      const seq = Number(h.seq ?? 0);
      if (!force && seq <= this.#seenSeq && this.#seenSeq !== 0) return;
      const docs: Record<string, unknown> = {};
      for (const [f, v] of Object.entries(h)) if (f.startsWith('doc:')) docs[f.slice(4)] = JSON.parse(v);
      this.#seenSeq = seq;
      if (seq > 0) this.#host.adopt(docs, seq);
    })().finally(() => (this.#pulling = null));
    return this.#pulling;
  }

  async #flush(): Promise<void> {
    if (this.#flushing) {
      await this.#flushing;
      if (this.#outDocs.size === 0 && this.#outLines.length === 0) return;
    }
    this.#flushing = this.#flushNow().finally(() => (this.#flushing = null));
    return this.#flushing;
  }

  async #flushNow(): Promise<void> {
    if (!this.#leading || (this.#outDocs.size === 0 && this.#outLines.length === 0)) return;
    const docs = [...this.#outDocs.entries()];
    const lines = this.#outLines;
    this.#outDocs = new Map();
    this.#outLines = [];
    const args = [
      String(this.#token),
      String(Date.now()),
      String(docs.length),
      ...docs.flatMap(([n, v]) => [n, JSON.stringify(v)]),
      ...lines.map((l) => JSON.stringify(l)),
    ];
    let seq: number;
    try {
      this.#ops(1);
      seq = await this.#redis.fleetWrite(this.keys.fence, this.keys.state, this.keys.audit, this.keys.channel, ...args);
    } catch (e) {
      // Redis down: keep them for the next try (docs: the newest wins; lines: in order)
      for (const [n, v] of docs) if (!this.#outDocs.has(n)) this.#outDocs.set(n, v);
      this.#outLines = [...lines, ...this.#outLines];
      this.#lost(e);
      return;
    }
    if (seq === 0) {
      this.#host.log.warn(
        { event: 'fleet_write_fenced', token: this.#token, docs: docs.map(([n]) => n) },
        `fleet: state write refused, fencing token ${this.#token} is stale; adopting the fleet's state`,
      );
      this.#stepDown('a newer leader holds the fencing token');
      this.#seenSeq = 0;
      await this.#pull().catch((e: unknown) => this.#lost(e));
      return;
    }
    this.#seenSeq = Math.max(this.#seenSeq, seq);
  }

  async #pullEvidence(now: number): Promise<void> {
    const win = this.#host.windowMs;
    const others = this.#replicas.filter((r) => r.id !== this.settings.replica && now - Number(r.at ?? 0) < this.settings.evidenceKeepMs);
    if (others.length === 0) return;
    const m = this.#redis.multi();
    for (const r of others) {
      const since = this.#pulledTo.get(r.id);
      // only what is new since the last look (plus slack); everything kept on the first look
      const n =
        since === undefined ? 0 : Math.min(Math.ceil((now - since) / win) * 2 + 4, Math.ceil((2 * this.settings.evidenceKeepMs) / win));
      m.lrange(this.keys.evidence(r.id), n === 0 ? 0 : -n, -1);
    }
    this.#ops(others.length);
    const res = (await m.exec()) ?? [];
    others.forEach((r, i) => {
      const [err, rows] = res[i] ?? [null, []];
      if (err) return;
      this.evidence.add(
        r.id,
        (rows as string[]).map((s) => JSON.parse(s) as WireWindow),
        now,
      );
      this.#pulledTo.set(r.id, now);
    });
  }

  // ---- commands ----

  async #drainCommands(): Promise<void> {
    for (let i = 0; i < 100 && this.leading; i++) {
      this.#ops(1);
      const raw = await this.#redis.lpop(this.keys.commands);
      if (raw === null) return;
      await this.#run(JSON.parse(raw) as FleetCommand);
    }
  }

  async #run(cmd: FleetCommand): Promise<void> {
    let reply: Record<string, unknown>;
    try {
      reply = { id: cmd.id, ok: true, result: await this.#host.execute(cmd) };
    } catch (e) {
      const err = e instanceof CanarydError ? e.toJSON() : { error: 'CANARYD_ERR_INTERNAL', message: String((e as Error).message ?? e) };
      reply = { id: cmd.id, ok: false, error: err };
    }
    await this.#flush();
    if (cmd.from === this.settings.replica) return this.#onReply(reply);
    this.#ops(1);
    await this.#redis.publish(this.keys.channel, 'reply ' + JSON.stringify(reply)).catch(() => undefined);
  }

  #onMessage(msg: string): void {
    if (msg.startsWith('state ')) {
      const seq = Number(msg.slice(6));
      if (!this.#leading && seq > this.#seenSeq) void this.#pull().catch((e: unknown) => this.#lost(e));
    } else if (msg === 'command') {
      if (this.leading) void this.#drainCommands().catch((e: unknown) => this.#lost(e));
    } else if (msg.startsWith('reply ')) {
      this.#onReply(JSON.parse(msg.slice(6)) as Record<string, unknown>);
    }
  }

  #onReply(r: Record<string, unknown>): void {
    const p = this.#pending.get(String(r.id));
    if (!p) return;
    this.#pending.delete(String(r.id));
    clearTimeout(p.timer);
    if (r.ok) p.resolve(r.result);
    else {
      const e = r.error as { error: string; message: string };
      const code = (e.error in ERROR_CODES ? e.error : 'CANARYD_ERR_INTERNAL') as keyof typeof ERROR_CODES;
      p.reject(new CanarydError(code, e.message));
    }
  }

  #ops(n: number): void {
    this.commandsSent += n;
  }
}
