/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `node dist/bench/proxy-bench.js --cpu-prof DIR`):
 * self time per function and per area (canaryd's own files, undici, node's http internals, prom-client,
 * pino, GC, idle), so "where the time goes" is a table rather than a flame graph to squint at.
 *   node dist/bench/profile-summary.js FILE.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The area a frame belongs to, by its script URL. */
export function areaOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'V8/native (program)';
  const m = /\/dist\/(proxy|admin|config|core|sidecar|state|cli|analysis|controller)(\/[^/]+)?/.exec(url);
  if (m) return `canaryd ${m[1]}${m[2] ?? ''}`.replace(/\.js$/, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) {
    const mod = url.slice(5).replace(/^internal\//, '');
    if (/^(_http|http)/.test(mod)) return 'node http';
    if (/^(net|stream|streams\/)/.test(mod) || mod.startsWith('streams')) return 'node net/streams';
    if (/^(timers|process\/task_queues|async_hooks)/.test(mod)) return 'node timers/ticks';
    return `node ${mod.split('/')[0]}`;
  }
  return url === '' ? 'native/builtin' : 'other';
}

export function summarise(p: Profile): { totalMs: number; byFunction: Array<[string, number]>; byArea: Array<[string, number]> } {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const a = areaOf(f.url, f.functionName);
    const short = f.url.replace(/^.*\/(dist|node_modules)\//, '').replace(/^node:internal\//, 'node:');
    const key = `${f.functionName || '(anonymous)'}  ${short ? `${short}:${f.lineNumber + 1}` : ''}`.trim();
    fn.set(key, (fn.get(key) ?? 0) + us);
    area.set(a, (area.get(a) ?? 0) + us);
    total += us;
  }
  const sort = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / 1000] as [string, number]);
  return { totalMs: total / 1000, byFunction: sort(fn), byArea: sort(area) };
}

function main(): void {
  const file = process.argv[2];
  const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 30;
  if (!file) {
    console.error('usage: profile-summary.js FILE.cpuprofile [--top N]');
    process.exit(2);
  }
  const s = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const busy = s.totalMs - (s.byArea.find(([a]) => a === 'idle')?.[1] ?? 0);
  const pct = (ms: number) => `${((ms / busy) * 100).toFixed(1)} %`;
  console.log(`total ${s.totalMs.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms busy (percentages are of busy time)\n`);
  console.log('| area | self ms | share |\n|---|---:|---:|');
  for (const [a, ms] of s.byArea) if (a !== 'idle') console.log(`| ${a} | ${ms.toFixed(0)} | ${pct(ms)} |`);
  console.log(`\n| top ${top} functions by self time | self ms | share |\n|---|---:|---:|`);
  for (const [f, ms] of s.byFunction.filter(([k]) => !k.startsWith('(idle)')).slice(0, top))
    console.log(`| \`${f.replace(/\|/g, '\\|')}\` | ${ms.toFixed(0)} | ${pct(ms)} |`);
}

main();
