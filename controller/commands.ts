/**
 * Operator commands (admin API, CLI, dashboard) and where they run: here, or — on a fleet follower — on the
 * leader, through Redis. A rollback is never refused: with Redis or the leader unreachable it is applied on
 * this replica now and queued for the leader. The weight command goes to the traffic state as owner 'api'
 * (refused there while a rollout owns the weight).
 */
import { CanarydError, type Log, type TrafficRouting } from '../core/index.js';
import type { RolloutController } from './controller.js';

/** What the commands need of the fleet coordinator (fleet/; structural: controller/ does not import fleet/). */
export interface CommandFleet {
  readonly leading: boolean;
  readonly connected: boolean;
  send(op: string, args: Record<string, unknown>): Promise<unknown>;
  queueForLeader(op: string, args: Record<string, unknown>): void;
}

export class OperatorCommands {
  readonly #rollout: RolloutController;
  readonly #traffic: TrafficRouting;
  readonly #fleet: CommandFleet | null;
  readonly #log: Log;

  constructor(o: { rollout: RolloutController; traffic: TrafficRouting; fleet: CommandFleet | null; log: Log }) {
    this.#rollout = o.rollout;
    this.#traffic = o.traffic;
    this.#fleet = o.fleet;
    this.#log = o.log;
  }

  /** Runs an operator command here, or (a fleet follower) on the leader, through Redis. */
  async run(op: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const f = this.#fleet;
    // A leader cut off from Redis still believes its lease for a moment; a rollback it applies then cannot be
    // written (fenced) and would be lost when the fleet's state is adopted on reconnect: queue it as well.
    if (f !== null && f.leading && !f.connected && op === 'rollback') return this.#rollbackLocally(f, args, 'Redis is unreachable');
    if (f === null || f.leading) return this.execute(op, args);
    try {
      return (await f.send(op, args)) as Record<string, unknown>;
    } catch (e) {
      // Redis or the leader unreachable: a rollback is never refused; applied here now, fleet-wide later
      if (op !== 'rollback' || (e as CanarydError).code !== 'CANARYD_ERR_FLEET_UNAVAILABLE') throw e;
      return this.#rollbackLocally(f, args, (e as Error).message);
    }
  }

  /** Runs a command on this replica (the leader runs the commands its followers send). */
  async execute(op: string, a: Record<string, unknown>): Promise<Record<string, unknown>> {
    const rollout = this.#rollout;
    const reason = typeof a.reason === 'string' ? a.reason : undefined;
    switch (op) {
      case 'start':
        return rollout.start(reason ? `rollout started by an operator: ${reason}` : undefined);
      case 'retry':
        return rollout.retry();
      case 'pause':
        return rollout.pause(reason);
      case 'resume':
        return rollout.resume();
      case 'promote':
        return rollout.promote({ full: a.full === true, reason });
      case 'rollback':
        if (typeof a.rolloutId === 'number' && a.rolloutId !== rollout.machine.state.id) return rollout.status();
        return rollout.rollback(reason);
      case 'weight': {
        this.#traffic.setWeight('api', Number(a.canary), reason ?? 'admin api');
        return { canaryWeight: this.#traffic.weight().canary };
      }
      default:
        throw new CanarydError('CANARYD_ERR_BAD_REQUEST', `unknown fleet command ${op}`);
    }
  }

  #rollbackLocally(f: CommandFleet, args: Record<string, unknown>, why: string): Record<string, unknown> {
    const rolloutId = this.#rollout.machine.state.id;
    const r = this.#rollout.rollback(`${args.reason ?? 'rolled back'} (applied locally: ${why})`);
    // the rollout it was meant for: replayed later, it must never roll back a rollout started since
    f.queueForLeader('rollback', { ...args, rolloutId });
    this.#log.warn(
      { event: 'fleet_local_rollback' },
      'fleet: rollback applied on this replica only; it is sent to the leader when Redis is back',
    );
    return r;
  }
}
