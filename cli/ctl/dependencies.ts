/** `canaryd ctl dependencies [NAME]`: the relayed TCP dependencies, their listeners, live connections and active faults. */
import type { DependencyList, DependencyView } from '../../contract/index.js';
import type { AdminClient } from './client.js';
import { num, table } from './format.js';
import { UsageError, type Io } from './commands.js';

const mib = (n: number) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

export async function dependencies(c: AdminClient, io: Io, args: string[]): Promise<number> {
  if (args.length > 1) throw new UsageError('dependencies takes at most one name');
  const r: DependencyList =
    args.length === 1
      ? { dependencies: [await c.get<DependencyView>(`/api/v1/dependencies/${encodeURIComponent(args[0])}`)] }
      : await c.get<DependencyList>('/api/v1/dependencies');
  if (io.json) return (io.out(JSON.stringify(args.length === 1 ? r.dependencies[0] : r, null, 2)), 0);
  const deps = r.dependencies ?? [];
  if (deps.length === 0) return (io.out('no dependencies configured (dependencies: in the config)'), 0);
  io.out(
    table([
      ['name', 'upstream', 'listeners', 'live', 'faulted', 'rejected', 'bytes up/down'],
      ...deps.map((d) => [
        String(d.name),
        `${d.upstream}${d.tls === 'passthrough' ? ' (tls)' : ''}`,
        (d.listeners ?? []).map((l) => `${l.version}=${l.bound ?? l.address}`).join(' '),
        num(d.connections?.live ?? 0),
        num(d.connections?.faulted ?? 0),
        num(Object.values(d.connections?.rejected ?? {}).reduce((a: number, b) => a + Number(b), 0)),
        `${mib(d.bytes?.upstream ?? 0)} / ${mib(d.bytes?.downstream ?? 0)}`,
      ]),
    ]),
  );
  const faults = deps.flatMap((d) =>
    (d.faults ?? []).map((f) => [
      String(d.name),
      String(f.rule),
      String(f.type),
      f.version ?? 'any',
      String(f.probability),
      num(f.connections),
    ]),
  );
  io.out(
    faults.length === 0
      ? 'no active dependency faults'
      : table([['dependency', 'rule', 'type', 'version', 'probability', 'connections'], ...faults]),
  );
  return 0;
}
