/**
 * A mounted ConfigMap update, done the way the kubelet does it: the file is a symlink through `..data`, a
 * new timestamped directory is written, `..data_tmp` is pointed at it and renamed over `..data`. canaryd
 * must reload on that (no event names the file), and must not reload when the content did not change.
 */
import t from 'tap';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseConfigText } from '../config/index.js';
import { Sidecar } from '../sidecar.js';
import { configYaml, tempDir } from './helpers/canaryd.js';

let generation = 0;
/** Writes a new `..<timestamp>` directory with the file and swaps `..data` to it atomically (kubelet AtomicWriter). */
function kubeletSwap(dir: string, text: string, previous?: string): string {
  const gen = `..2026_12_03_16_00_0${generation++}.${process.pid}`;
  mkdirSync(join(dir, gen));
  writeFileSync(join(dir, gen, 'canaryd.yaml'), text);
  symlinkSync(gen, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  if (previous) rmSync(join(dir, previous), { recursive: true, force: true });
  return gen;
}

t.test('a ConfigMap ..data symlink swap is reloaded; a swap to the same content is not', async (t) => {
  const dir = tempDir('canaryd-cm-');
  const stateDir = tempDir('canaryd-cm-state-');
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });
  const yaml = (w: number) =>
    configYaml('http://127.0.0.1:1', 'http://127.0.0.1:2', `routing: { canaryWeight: ${w} }\n`, stateDir).replace(
      'log: { level: silent }',
      'log: { level: debug }',
    );
  let gen = kubeletSwap(dir, yaml(5));
  symlinkSync('..data/canaryd.yaml', join(dir, 'canaryd.yaml'));

  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: () => void }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const s of chunk.toString().split('\n').filter(Boolean)) {
        const l = JSON.parse(s) as Record<string, unknown>;
        lines.push(l);
        for (const w of [...waiters]) if (w.pred(l)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
      }
      cb();
    },
  });
  const seen = (pred: (l: Record<string, unknown>) => boolean) =>
    new Promise<void>((resolve, reject) => {
      if (lines.some(pred)) return resolve();
      const timer = setTimeout(() => reject(new Error(`log line not seen; got ${JSON.stringify(lines.slice(1))}`)), 15_000);
      waiters.push({ pred, resolve: () => (clearTimeout(timer), resolve()) });
    });
  const configPath = join(dir, 'canaryd.yaml');
  const sidecar = new Sidecar({ config: parseConfigText(yaml(5)), configPath, logger: pino({ level: 'debug' }, sink) });
  await sidecar.start();
  t.teardown(() => sidecar.stop(500));
  sidecar.watchConfig();
  t.equal(sidecar.traffic.weight().canary, 5);

  gen = kubeletSwap(dir, yaml(5), gen);
  await seen((l) => l.event === 'config_watch' && l.changed === false);
  t.notOk(
    lines.some((l) => l.event === 'config_applied'),
    'same content after a swap: no reload',
  );

  gen = kubeletSwap(dir, yaml(30), gen);
  await seen((l) => l.event === 'config_applied' && l.source === 'file-change');
  t.equal(sidecar.traffic.weight().canary, 30, 'the swapped-in content is applied');
  t.equal(lines.filter((l) => l.event === 'config_applied').length, 1, 'applied once');

  kubeletSwap(dir, 'routing: [not, a, mapping', gen);
  await seen((l) => l.event === 'config_rejected');
  t.equal(sidecar.traffic.weight().canary, 30, 'a broken swap is rejected and the running config kept');
});
