/**
 * Merged evidence in fleet mode: every replica publishes its completed per-second windows, never per-request
 * data. The leader judges the sum over the fleet, so N replicas reach a verdict about N times sooner than one.
 * The merge itself (`mergeWindows`, the wire form, `RemoteEvidence`) is core/evidence.ts, shared with the
 * workers of one replica. FleetMetricSource serves the controller the local windows plus every other
 * replica's, as a MetricSource — the controller cannot tell it from the local one.
 */
import { mergeWindows, type MetricSource, type RemoteEvidence, type VersionName, type WindowRecord } from '../core/index.js';

export { mergeWindows, toWire, fromWire, RemoteEvidence, type WireWindow } from '../core/index.js';

/** The controller's MetricSource in fleet mode: local windows plus the remote ones, merged. */
export class FleetMetricSource implements MetricSource {
  readonly windowMs: number;
  readonly #local: MetricSource;
  readonly #remote: RemoteEvidence;
  readonly #self: string;
  /** while false (a follower, or Redis lost), only local evidence is served */
  merged = false;

  constructor(local: MetricSource, remote: RemoteEvidence, self: string) {
    this.#local = local;
    this.#remote = remote;
    this.#self = self;
    this.windowMs = local.windowMs;
  }

  windows(version: VersionName, fromMs: number, toMs: number): WindowRecord[] {
    const local = this.#local.windows(version, fromMs, toMs);
    if (!this.merged) return local;
    return mergeWindows([local, ...this.#remote.windows(version, fromMs, toMs, this.#self)]);
  }
}
