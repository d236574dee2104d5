/**
 * The config reference (docs/config.md), generated from the schema so it cannot drift from what canaryd
 * reads: every key path with its type, default and description. `undescribedKeys` is what
 * test/config-docs.test.ts holds at zero: a key without a description is a key a user cannot tune safely.
 */

/** A JSON Schema node as TypeBox emits it (only the fields the reference reads). */
interface SchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  patternProperties?: Record<string, SchemaNode>;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  minimum?: number;
  maximum?: number;
  duration?: boolean;
  pattern?: string;
}

export interface ConfigKey {
  /** e.g. `routing.rules[].match.header` */
  path: string;
  type: string;
  default: string;
  description: string;
  required: boolean;
}

function typeOf(n: SchemaNode): string {
  if (n.duration) return 'duration';
  if (n.const !== undefined) return JSON.stringify(n.const);
  const alts = n.anyOf ?? n.oneOf;
  if (alts) {
    const names = alts.map(typeOf);
    return [...new Set(names)].join(' | ');
  }
  if (n.enum) return n.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (Array.isArray(n.type)) return n.type.join(' | ');
  if (n.type === 'array') return `${n.items ? typeOf(n.items) : 'any'}[]`;
  const mapValue = typeof n.additionalProperties === 'object' ? n.additionalProperties : Object.values(n.patternProperties ?? {})[0];
  if (n.type === 'object' && !n.properties && mapValue) return `map of ${typeOf(mapValue)}`;
  let t = n.type ?? 'any';
  if (n.minimum !== undefined || n.maximum !== undefined) t += ` (${n.minimum ?? ''}..${n.maximum ?? ''})`;
  return t;
}

function objectBranches(n: SchemaNode): SchemaNode[] {
  const out: SchemaNode[] = [];
  if (n.properties) out.push(n);
  for (const alt of n.anyOf ?? n.oneOf ?? []) out.push(...objectBranches(alt));
  return out;
}

/** Every key path under `root`, depth first, in schema order; a key met in several union branches once. */
export function configKeys(root: SchemaNode): ConfigKey[] {
  const out: ConfigKey[] = [];
  const seen = new Set<string>();
  const walk = (node: SchemaNode, prefix: string): void => {
    for (const branch of objectBranches(node)) {
      for (const [name, child] of Object.entries(branch.properties ?? {})) {
        const path = prefix + name;
        if (!seen.has(path)) {
          seen.add(path);
          out.push({
            path,
            type: typeOf(child),
            default: child.default === undefined ? '' : JSON.stringify(child.default),
            description: (child.description ?? '').trim(),
            required: (branch.required ?? []).includes(name),
          });
        }
        walk(child, path + '.');
        if (child.items) walk(child.items, path + '[].');
        if (typeof child.additionalProperties === 'object') walk(child.additionalProperties, path + '.<name>.');
        for (const value of Object.values(child.patternProperties ?? {})) walk(value, path + '.<name>.');
        for (const alt of child.anyOf ?? child.oneOf ?? []) {
          if (alt.items) walk(alt.items, path + '[].');
        }
      }
    }
  };
  walk(root, '');
  return out;
}

/** Key paths with no description. */
export function undescribedKeys(root: SchemaNode): string[] {
  return configKeys(root)
    .filter((k) => k.description === '')
    .map((k) => k.path);
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** docs/config.md: one table per top-level section. */
export function renderConfigReference(root: SchemaNode): string {
  const keys = configKeys(root);
  const sections = new Map<string, ConfigKey[]>();
  for (const k of keys) {
    const top = k.path.split(/[.[]/)[0]!;
    if (!sections.has(top)) sections.set(top, []);
    sections.get(top)!.push(k);
  }
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from config/canaryd.schema.json by `npm run config-docs`; test/config-docs.test.ts fails when it is stale. Do not edit by hand. -->',
    '',
    'canaryd reads one YAML file (`canaryd run --config FILE`, or `$CANARYD_CONFIG`). Every key is listed below with its',
    'type, default and meaning. Durations are a number of milliseconds or a string such as `250ms`, `30s`, `5m`, `1h`.',
    '`${VAR}` in a value is replaced by the environment variable (a whole value may become a number or a boolean).',
    'An unknown key, a wrong type or a semantic problem is reported with the key, the line and the reason, all in one',
    'pass, and a running canaryd keeps its config. `canaryd validate FILE` checks a file without starting.',
    'The JSON Schema itself is `config/canaryd.schema.json` (point your editor at it with `$schema`). A worked example: `examples/canaryd.yaml`.',
    '',
    `${keys.length} keys in ${sections.size} sections.`,
    '',
  ];
  for (const [name, list] of sections) {
    lines.push(`## ${name}`, '', '| key | type | default | description |', '|---|---|---|---|');
    for (const k of list) {
      const key = '`' + k.path + '`' + (k.required && k.default === '' ? ' (required)' : '');
      lines.push(`| ${key} | ${cell(k.type)} | ${k.default ? '`' + cell(k.default) + '`' : ''} | ${cell(k.description)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
