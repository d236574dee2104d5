/**
 * Renders the non-chart panels from admin API data: rollout timeline, analysis checks, anomaly flags,
 * active faults, decision and event logs. Built with createElement/textContent only (no innerHTML): the
 * data includes operator-supplied strings (reasons, names) and the page runs under a strict CSP.
 * Shapes are read tolerantly: the rollout and faults engines own their payloads.
 */
type Attrs = Record<string, string>;

export function h(tag: string, attrs: Attrs = {}, ...children: Array<Node | string | null | undefined>): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

function replace(el: Element, nodes: Node[]): void {
  el.replaceChildren(...nodes);
}

export function fmt(x: unknown, digits = 3): string {
  if (x === null || x === undefined) return '–';
  if (typeof x === 'number') return Number.isInteger(x) ? String(x) : x.toPrecision(digits);
  if (typeof x === 'string') return x;
  return JSON.stringify(x);
}

export function time(at: unknown): string {
  return typeof at === 'number' ? new Date(at).toLocaleTimeString() : '';
}

/** An array from `v` or from the first array-valued field among `keys`. */
export function listOf(v: any, keys: string[]): any[] {
  if (Array.isArray(v)) return v;
  for (const k of keys) if (Array.isArray(v?.[k])) return v[k];
  return [];
}

const DEFAULT_STEPS = [5, 10, 25, 50, 75, 100];

export function renderTimeline(el: Element, detail: Element, status: any): void {
  const r = status?.rollout;
  const weight: number = r?.canaryWeight ?? status?.weights?.canary ?? 0;
  const steps: number[] = Array.isArray(r?.steps) ? r.steps.map((s: any) => (typeof s === 'number' ? s : s?.weight ?? s?.canaryWeight)).filter((s: any) => typeof s === 'number') : DEFAULT_STEPS;
  const stepIdx: number | null = typeof r?.step === 'number' ? r.step : null;
  const nodes = steps.map((w, i) => {
    const state = stepIdx !== null ? (i < stepIdx ? 'done' : i === stepIdx ? 'current' : 'todo') : w <= weight ? 'done' : 'todo';
    return h('div', { class: `step ${state}`, title: `step ${i + 1}: ${w}% canary` }, h('span', { class: 'dot' }), h('span', {}, `${w}%`));
  });
  const bar = h('div', { class: 'progress' }, h('div', { class: 'fill', 'data-weight': String(weight) }));
  (bar.firstChild as HTMLElement).style.width = `${Math.max(0, Math.min(100, weight))}%`;
  replace(el, [h('div', { class: 'steps' }, ...nodes), bar]);
  const bits = [`canary ${fmt(weight)}%`];
  if (r) {
    bits.push(`phase ${fmt(r.phase)}`);
    if (stepIdx !== null) bits.push(`step ${stepIdx + 1} of ${steps.length}`);
    const last = r.lastDecision;
    if (last) bits.push(`last decision ${fmt(last.action ?? last)} ${time(last.at)}`);
  } else {
    bits.push('no rollout controller status');
  }
  detail.textContent = bits.join(' · ');
}

function statusClass(s: unknown): string {
  const v = String(s ?? '').toLowerCase();
  if (v === 'pass' || v === 'promote' || v === 'ok') return 'good';
  if (v === 'fail' || v === 'rollback') return 'bad';
  if (v === 'marginal' || v === 'inconclusive' || v === 'nodata') return 'warn';
  return '';
}

export function badge(text: string, cls = statusClass(text)): HTMLElement {
  return h('span', { class: `badge ${cls}` }, text);
}

export function reportOf(analysis: any): any {
  return analysis?.report ?? analysis?.latest ?? analysis?.lastReport ?? analysis;
}

/** `absent`: why there is no report to show (no engine, or none yet), or null when `analysis` is one. */
export function renderChecks(tbody: Element, verdictEl: Element, note: Element, analysis: any, absent: string | null): any[] {
  if (absent !== null) {
    replace(tbody, []);
    verdictEl.textContent = 'n/a';
    verdictEl.className = 'badge';
    note.textContent = absent;
    return [];
  }
  const report = reportOf(analysis);
  const checks = listOf(report, ['checks']);
  verdictEl.textContent = fmt(report?.verdict ?? '–');
  verdictEl.className = `badge ${statusClass(report?.verdict)}`;
  replace(
    tbody,
    checks.map((c) =>
      h('tr', { 'data-check': String(c.name ?? '') }, h('td', {}, fmt(c.name)), h('td', {}, fmt(c.kind)), h('td', { class: 'num' }, fmt(c.observed)), h('td', { class: 'num' }, fmt(c.threshold)), h('td', {}, badge(fmt(c.status))), h('td', { class: 'msg' }, fmt(c.message ?? ''))),
    ),
  );
  const extra: string[] = [];
  if (typeof report?.score === 'number') extra.push(`score ${fmt(report.score)}`);
  if (typeof report?.moreCanaryRequestsNeeded === 'number') extra.push(`~${report.moreCanaryRequestsNeeded} more canary requests needed`);
  if (Array.isArray(report?.reasons)) extra.push(...report.reasons.map(String));
  note.textContent = checks.length === 0 && extra.length === 0 ? 'no analysis yet' : extra.join(' · ');
  return checks;
}

export function renderAnomalies(el: Element, checks: any[], analysis: any): void {
  const flagged = checks.filter((c) => c.kind === 'anomaly' && c.status !== 'pass');
  const extra = listOf(analysis, ['anomalies']);
  const items = [
    ...flagged.map((c) => h('li', {}, badge(fmt(c.status)), ` ${fmt(c.name)}: ${fmt(c.message ?? '')}`)),
    ...extra.map((a) => h('li', {}, badge('anomaly', 'warn'), ` ${fmt(a.name ?? a.metric ?? '')} ${fmt(a.message ?? a.detail ?? '')}`)),
  ];
  replace(el, items.length > 0 ? items : [h('li', { class: 'muted' }, 'none')]);
}

export function renderFaults(el: Element, faults: any, missing: boolean): void {
  if (missing) return replace(el, [h('li', { class: 'muted' }, 'no fault engine on this canaryd')]);
  const list = listOf(faults, ['faults', 'rules', 'items']).filter((f) => f.enabled !== false && f.active !== false);
  // the fault engine's state (docs/faults.md): halted by the kill switch or auto-disable, off, or refused in production
  const state = typeof faults?.state === 'string' ? faults.state : null;
  const head: HTMLElement[] = [];
  if (state === 'halted') head.push(h('li', { class: 'fault-state' }, badge('halted', 'bad'), ` ${fmt(faults.halted?.reason ?? '')}`));
  else if (state === 'disabled' || state === 'refused') head.push(h('li', { class: 'muted fault-state' }, state === 'refused' ? 'fault injection refused in production' : 'fault injection off (faults.enabled: false)'));
  const items = list.map((f) =>
    h('li', {}, badge(fmt(f.type ?? f.kind ?? 'fault'), 'warn'), ` ${fmt(f.name ?? f.id ?? '')}`, f.probability !== undefined ? ` p=${fmt(f.probability)}` : '', f.match && Object.keys(f.match).length > 0 ? ` ${JSON.stringify(f.match)}` : '', typeof f.injected === 'number' ? ` · ${f.injected} injected` : ''),
  );
  replace(el, head.length + items.length > 0 ? [...head, ...items] : [h('li', { class: 'muted' }, 'none')]);
}

/** The relayed TCP dependencies (GET /api/v1/dependencies): live and faulted connections, active faults. */
export function renderDependencies(el: Element, deps: any, missing: boolean): void {
  const list = missing ? [] : listOf(deps, ['dependencies']);
  if (list.length === 0) return replace(el, [h('li', { class: 'muted' }, 'no dependencies relayed (dependencies: in the config)')]);
  replace(
    el,
    list.map((d) => {
      const c = d.connections ?? {};
      const faults = Array.isArray(d.faults) ? d.faults : [];
      return h(
        'li',
        {},
        badge(fmt(d.name), c.faulted > 0 ? 'warn' : undefined),
        ` → ${fmt(d.upstream)} · ${fmt(c.live ?? 0)} live, ${fmt(c.faulted ?? 0)} faulted`,
        ...faults.map((f: any) => h('span', {}, ' ', badge(fmt(f.type), 'warn'), ` ${fmt(f.rule)}${f.version ? ` (${fmt(f.version)})` : ''} on ${fmt(f.connections)}`)),
      );
    }),
  );
}

export function decisionItem(d: any): HTMLElement {
  const reasons = Array.isArray(d.reasons) ? d.reasons.join('; ') : fmt(d.reason ?? '');
  return h('li', {}, h('span', { class: 'time' }, time(d.at)), ' ', badge(fmt(d.action ?? d.type)), ` ${d.canaryWeight !== undefined ? `→ ${fmt(d.canaryWeight)}% ` : ''}${d.source ? `(${d.source}) ` : ''}${reasons}`);
}

export function renderDecisions(el: Element, decisions: any, missing: boolean): void {
  if (missing) return replace(el, [h('li', { class: 'muted' }, 'no rollout controller on this canaryd')]);
  const list = listOf(decisions, ['decisions', 'items']).slice(-50).reverse();
  replace(el, list.length > 0 ? list.map(decisionItem) : [h('li', { class: 'muted' }, 'no decisions yet')]);
}

export function eventItem(e: any): HTMLElement {
  let text: string;
  switch (e.type) {
    case 'weights':
      text = `canary ${fmt(e.previous)}% → ${fmt(e.canary)}% (${fmt(e.owner)}: ${fmt(e.reason)})`;
      break;
    case 'config':
      text = `config ${fmt(e.action)} (${fmt(e.source)})${Array.isArray(e.problems) && e.problems.length ? `: ${e.problems.join('; ')}` : ''}`;
      break;
    case 'flag':
      text = `flag ${fmt(e.flag?.key)} ${fmt(e.action)}${e.flag ? ` (${e.flag.enabled ? 'on' : 'off'})` : ''}`;
      break;
    case 'decision': {
      const d = e.decision ?? e;
      text = `${fmt(d.action)} → ${fmt(d.canaryWeight)}% (${fmt(d.source)}): ${fmt(d.reasons?.[0] ?? '')}`;
      break;
    }
    case 'rollout':
      text = e.action === 'gate-refused' ? `${fmt(e.gate)} gate refused: ${fmt(e.reason)}` : `${fmt(e.phase)}${e.phase === 'progressing' || e.phase === 'paused' ? `, step ${Number(e.step) + 1}` : ''}, canary ${fmt(e.canaryWeight)}%${e.reason ? `: ${fmt(e.reason)}` : ''}`;
      break;
    case 'drift':
      text = `drift ${fmt(e.action)}: ${listOf(e.items, []).map((i) => i.path).join(', ') || 'in sync'}`;
      break;
    default:
      text = `${fmt(e.action ?? '')} ${fmt(e.message ?? e.name ?? e.reason ?? '')}`;
  }
  return h('li', { 'data-type': String(e.type) }, h('span', { class: 'time' }, time(e.at)), ' ', badge(String(e.type), ''), ` ${text}`);
}
