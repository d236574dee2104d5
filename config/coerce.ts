/**
 * `${VAR}` filling a number or a boolean: environment values are strings, so `canaryWeight: ${WEIGHT}` would
 * fail the schema. A value that was one whole `${VAR}` is converted when the schema at its key path takes no
 * string there but a number, an integer or a boolean, and the text is one. Literal strings in the file are
 * never converted (`"5"` in YAML stays a string error), nor values where a string is allowed (durations,
 * tokens).
 */
import { ConfigSchema } from './schema.js';

type Node = {
  type?: string | string[];
  properties?: Record<string, Node>;
  items?: Node;
  additionalProperties?: Node | boolean;
  anyOf?: Node[];
  patternProperties?: Record<string, Node>;
};

function typesAt(schema: Node, path: Array<string | number>): Set<string> {
  let nodes: Node[] = [schema];
  for (const seg of path) {
    const next: Node[] = [];
    for (const n of nodes.flatMap((x) => [x, ...(x.anyOf ?? [])])) {
      if (typeof seg === 'number' && n.items) next.push(n.items);
      if (typeof seg === 'string') {
        const p = n.properties?.[seg];
        if (p) next.push(p);
        else if (n.patternProperties) next.push(...Object.values(n.patternProperties));
        else if (typeof n.additionalProperties === 'object') next.push(n.additionalProperties);
      }
    }
    nodes = next;
  }
  const types = new Set<string>();
  for (const n of nodes.flatMap((x) => [x, ...(x.anyOf ?? [])])) for (const t of [n.type ?? []].flat()) types.add(t);
  return types;
}

export function coerceEnvScalars<T>(value: T, filled: Array<Array<string | number>>): T {
  for (const path of filled) {
    let parent: any = value;
    for (const seg of path.slice(0, -1)) parent = parent?.[seg];
    const key = path[path.length - 1];
    const v = parent?.[key];
    if (typeof v !== 'string') continue;
    const types = typesAt(ConfigSchema as unknown as Node, path);
    if (types.has('string') || types.size === 0) continue;
    if ((types.has('number') || types.has('integer')) && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v.trim())) parent[key] = Number(v);
    else if (types.has('boolean') && (v === 'true' || v === 'false')) parent[key] = v === 'true';
  }
  return value;
}
