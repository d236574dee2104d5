/** Reading a config file: YAML -> ${ENV} interpolation -> env defaults -> schema validation -> frozen Config. */
import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parse as parseYaml, parseDocument, type Document } from 'yaml';
import { CanarydError } from '../core/index.js';
import { applyEnvDefaults, interpolateEnv } from './env.js';
import { coerceEnvScalars } from './coerce.js';
import { validateConfig, type Locator } from './validate.js';
import type { Config } from './schema.js';

/** file:line:column of a key path in the parsed document (the key's position for mappings). */
function locatorOf(doc: Document, lines: LineCounter, source: string): Locator {
  return (path) => {
    let node: unknown = doc.contents;
    let offset: number | undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
        if (!pair) return undefined;
        offset = (pair.key as { range?: [number, number, number] }).range?.[0];
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        offset = (node as { range?: [number, number, number] } | undefined)?.range?.[0];
        if (node === undefined) return undefined;
      } else return undefined;
    }
    if (offset === undefined) return undefined;
    const { line, col } = lines.linePos(offset);
    return `${source}:${line}:${col}`;
  };
}

export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => `${source}: ${e.message.split('\n')[0]}`);
    throw new CanarydError('CANARYD_ERR_CONFIG_READ', `cannot parse YAML:\n  ${problems.join('\n  ')}`, { details: problems });
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CanarydError('CANARYD_ERR_CONFIG_INVALID', `${source}: the top level must be a mapping`, {
      details: ['(root): must be a mapping'],
    });
  }
  const proto = protoKeyPaths(raw);
  if (proto.length > 0) {
    const problems = proto.map((p) => `${p}: the key "__proto__" is not allowed (it would replace the object's prototype)`);
    throw new CanarydError('CANARYD_ERR_CONFIG_INVALID', `${source}: ${problems.join('; ')}`, { details: problems });
  }
  const filled: Array<Array<string | number>> = [];
  const interpolated = coerceEnvScalars(interpolateEnv(raw, env, filled), filled);
  return validateConfig(applyEnvDefaults(interpolated, env), env, locatorOf(doc, lines, source));
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

/** A YAML (or JSON) document as plain data, for files that are not the config (e.g. `ctl experiments run FILE`). */
export function parseYamlDocument(text: string): unknown {
  return parseYaml(text);
}
