/**
 * Header lookups that never touch the prototype chain. Node's `req.headers` is a plain object, so
 * `req.headers['constructor']` is Object's constructor function for every request: a routing rule, flag or
 * fault match on header `constructor` (or `toString`, `__proto__`...) would match all traffic. Only a
 * header the client really sent is ever returned.
 */
export type HeaderBag = Record<string, string | string[] | undefined>;

/** The request's own header `name` (lower-case), joined with ", " when repeated; undefined when absent. */
export function ownHeader(headers: HeaderBag, name: string): string | undefined {
  if (!Object.hasOwn(headers, name)) return undefined;
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : typeof v === 'string' ? v : undefined;
}

/** The first value of the request's own header `name`; undefined when absent. */
export function ownHeaderFirst(headers: HeaderBag, name: string): string | undefined {
  if (!Object.hasOwn(headers, name)) return undefined;
  const v = headers[name];
  return Array.isArray(v) ? v[0] : typeof v === 'string' ? v : undefined;
}
