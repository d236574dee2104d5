/** Reading a config file: YAML -> ${ENV} interpolation -> schema validation -> frozen Config. */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { CanarydError } from '../core/index.js';
import { interpolateEnv } from './env.js';
import { validateConfig } from './validate.js';
import type { Config } from './schema.js';

export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => `${source}: ${e.message.split('\n')[0]}`);
    throw new CanarydError('CANARYD_ERR_CONFIG_READ', `cannot parse YAML:\n  ${lines.join('\n  ')}`, { details: lines });
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CanarydError('CANARYD_ERR_CONFIG_INVALID', `${source}: the top level must be a mapping`, { details: ['(root): must be a mapping'] });
  }
  const proto = protoKeyPaths(raw);
  if (proto.length > 0) {
    const lines = proto.map((p) => `${p}: the key "__proto__" is not allowed (it would replace the object's prototype)`);
    throw new CanarydError('CANARYD_ERR_CONFIG_INVALID', `${source}: ${lines.join('; ')}`, { details: lines });
  }
  return validateConfig(interpolateEnv(raw, env), env);
}

/** Key paths of every own "__proto__" key: copying such a key into a plain object swaps its prototype. */
function protoKeyPaths(v: unknown, path = ''): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => protoKeyPaths(x, `${path}[${i}]`));
  if (v === null || typeof v !== 'object') return [];
  return Object.keys(v).flatMap((k) => {
    const p = path ? `${path}.${k}` : k;
    return k === '__proto__' ? [p] : protoKeyPaths((v as Record<string, unknown>)[k], p);
  });
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CanarydError('CANARYD_ERR_CONFIG_READ', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseConfigText(text, env, path);
}
