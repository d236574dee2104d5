/** Reads the final stage of the repo's Dockerfile: what the image's ENV, WORKDIR, USER, ENTRYPOINT, CMD say. */
import { readFileSync } from 'node:fs';

export interface ImageSpec {
  env: Record<string, string>;
  workdir: string;
  user: string;
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[];
}

/** Joins continued lines and returns the instructions of the last FROM stage. */
export function readImageSpec(path = 'Dockerfile'): ImageSpec {
  const lines = readFileSync(path, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const lastFrom = lines.map((l) => /^FROM\b/i.test(l)).lastIndexOf(true);
  const spec: ImageSpec = { env: {}, workdir: '/', user: 'root', entrypoint: [], cmd: [], healthcheck: [] };
  for (const l of lines.slice(lastFrom + 1)) {
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(l) ?? [];
    switch (op?.toUpperCase()) {
      case 'ENV':
        for (const m of rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) spec.env[m[1]] = m[2].replace(/^"|"$/g, '');
        break;
      case 'WORKDIR':
        spec.workdir = rest;
        break;
      case 'USER':
        spec.user = rest;
        break;
      case 'ENTRYPOINT':
        spec.entrypoint = JSON.parse(rest) as string[];
        break;
      case 'CMD':
        spec.cmd = JSON.parse(rest) as string[];
        break;
      case 'HEALTHCHECK':
        spec.healthcheck = JSON.parse(rest.slice(rest.indexOf('CMD') + 3).trim()) as string[];
        break;
    }
  }
  return spec;
}
