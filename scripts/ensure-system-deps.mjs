#!/usr/bin/env node
// Runs before the tests (npm "pretest"): the suite drives a real Prometheus, Chromium and redis-server, all
// Debian packages. When either is missing and we are root with apt-get (CI, a fresh dev machine), they are
// installed; otherwise the missing packages are named and the run stops.
import { execSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const needed = [
  { bin: '/usr/bin/prometheus', pkg: 'prometheus' },
  { bin: '/usr/bin/chromium', pkg: 'chromium' },
  { bin: '/usr/bin/redis-server', pkg: 'redis-server' }, // the fleet tests start their own
];
const missing = needed.filter((n) => !existsSync(n.bin)).map((n) => n.pkg);
if (missing.length === 0) process.exit(0);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (!isRoot || !hasApt) {
  console.error(`missing Debian packages for the tests: ${missing.join(' ')} (install them: apt-get install -y ${missing.join(' ')})`);
  process.exit(1);
}
console.log(`installing Debian packages for the tests: ${missing.join(' ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execSync('apt-get update -qq', { stdio: 'inherit', env });
execSync(`apt-get install -y -qq --no-install-recommends ${missing.join(' ')}`, { stdio: 'inherit', env });
