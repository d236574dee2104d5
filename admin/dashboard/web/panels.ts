/**
 * Renders the non-chart panels from admin API data: rollout timeline, analysis checks, anomaly flags,
 * active faults, decision and event logs. Built with createElement/textContent only (no innerHTML): the
 * data includes operator-supplied strings (reasons, names) and the page runs under a strict CSP.
 * Shapes are the admin API contract's (contract/): type-only imports, erased by esbuild.
 */
import type {
  AnalysisReport,
  AuditRecord,
  CanarydEvent,
  CheckRow,
  DecisionsList,
  DependencyList,
  FaultsView,
  StatusView,
} from '../../../contract/index.js';

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

const DEFAULT_STEPS = [5, 10, 25, 50, 75, 100];

export function renderTimeline(el: Element, detail: Element, status: StatusView | null): void {
  const r = status?.rollout;
  const weight = r?.canaryWeight ?? status?.weights.canary ?? 0;
  const steps = r?.steps ?? DEFAULT_STEPS;
  const stepIdx = r ? r.step : null;
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
    if (last) bits.push(`last decision ${fmt(last.action)} ${time(last.at)}`);
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

/** `k=v` pairs of a check's statistical record (n per arm, estimates, evidence...), rounded. */
function statsText(stats: unknown): string {
  if (stats === null || typeof stats !== 'object') return '';
  return Object.entries(stats as Record<string, unknown>)
    .map(([k, v]) => `${k}=${fmt(v)}`)
    .join(' ');
}

/** The analysis panel's elements: the plain reason first, the checks table folded away in a <details>. */
export interface AnalysisView {
  reason: HTMLElement;
  detailSummary: HTMLElement;
  tbody: Element;
  verdict: Element;
  note: Element;
}

/**
 * The plain-language line first (the report's `summary`: where the canary stands and what happens next;
 * else its first reason), then, folded away, every check with its numbers and statistical record.
 * `absent`: why there is no report to show (no engine, or none yet), or null when `report` is one.
 */
export function renderChecks(v: AnalysisView, report: AnalysisReport | null, absent: string | null): CheckRow[] {
  if (absent !== null) {
    replace(v.tbody, []);
    v.verdict.textContent = 'n/a';
    v.verdict.className = 'badge';
    v.reason.textContent = absent;
    v.reason.dataset.plain = 'absent';
    v.detailSummary.textContent = 'statistical detail';
    v.note.textContent = '';
    return [];
  }
  const checks = report?.checks ?? [];
  v.verdict.textContent = fmt(report?.verdict ?? '–');
  v.verdict.className = `badge ${statusClass(report?.verdict)}`;
  const plain = report?.summary ?? report?.reasons[0] ?? null;
  v.reason.textContent = plain ?? (checks.length === 0 ? 'no analysis yet' : `verdict ${fmt(report?.verdict)}`);
  v.reason.dataset.plain = plain !== null ? 'summary' : 'none';
  const counts = new Map<string, number>();
  for (const c of checks) counts.set(String(c.status), (counts.get(String(c.status)) ?? 0) + 1);
  v.detailSummary.textContent = `statistical detail: ${checks.length} checks${checks.length > 0 ? ` (${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')})` : ''}`;
  replace(
    v.tbody,
    checks.map((c) =>
      h(
        'tr',
        { 'data-check': c.name },
        h('td', {}, fmt(c.name)),
        h('td', {}, fmt(c.kind)),
        h('td', { class: 'num' }, fmt(c.observed)),
        h('td', { class: 'num' }, fmt(c.threshold)),
        h('td', {}, badge(fmt(c.status))),
        h('td', { class: 'msg' }, fmt(c.message ?? ''), h('div', { class: 'stats' }, statsText((c as { stats?: unknown }).stats))),
      ),
    ),
  );
  const extra: string[] = [];
  if (typeof report?.score === 'number') extra.push(`score ${fmt(report.score)}`);
  if (typeof report?.moreCanaryRequestsNeeded === 'number') extra.push(`~${report.moreCanaryRequestsNeeded} more canary requests needed`);
  if (report) extra.push(...report.reasons);
  v.note.textContent = extra.join(' · ');
  return checks;
}

/** The anomaly checks of the report that do not pass. */
export function renderAnomalies(el: Element, checks: readonly CheckRow[]): void {
  const flagged = checks.filter((c) => c.kind === 'anomaly' && c.status !== 'pass');
  const items = flagged.map((c) => h('li', {}, badge(fmt(c.status)), ` ${fmt(c.name)}: ${fmt(c.message ?? '')}`));
  replace(el, items.length > 0 ? items : [h('li', { class: 'muted' }, 'none')]);
}

export function renderFaults(el: Element, faults: FaultsView | null, missing: boolean): void {
  if (missing) return replace(el, [h('li', { class: 'muted' }, 'no fault engine on this canaryd')]);
  const list = (faults?.rules ?? []).filter((f) => f.enabled !== false && f.active !== false);
  // the fault engine's state (docs/faults.md): halted by the kill switch or auto-disable, off, or refused in production
  const state = faults?.state ?? null;
  const head: HTMLElement[] = [];
  if (state === 'halted') head.push(h('li', { class: 'fault-state' }, badge('halted', 'bad'), ` ${fmt(faults?.halted?.reason ?? '')}`));
  else if (state === 'disabled' || state === 'refused')
    head.push(
      h(
        'li',
        { class: 'muted fault-state' },
        state === 'refused' ? 'fault injection refused in production' : 'fault injection off (faults.enabled: false)',
      ),
    );
  const items = list.map((f) =>
    h(
      'li',
      {},
      badge(fmt(f.type), 'warn'),
      ` ${fmt(f.name)}`,
      f.probability !== undefined ? ` p=${fmt(f.probability)}` : '',
      f.match && Object.keys(f.match).length > 0 ? ` ${JSON.stringify(f.match)}` : '',
      typeof f.injected === 'number' ? ` · ${f.injected} injected` : '',
    ),
  );
  replace(el, head.length + items.length > 0 ? [...head, ...items] : [h('li', { class: 'muted' }, 'none')]);
}

/** The relayed TCP dependencies (GET /api/v1/dependencies): live and faulted connections, active faults. */
export function renderDependencies(el: Element, deps: DependencyList | null, missing: boolean): void {
  const list = missing ? [] : (deps?.dependencies ?? []);
  if (list.length === 0) return replace(el, [h('li', { class: 'muted' }, 'no dependencies relayed (dependencies: in the config)')]);
  replace(
    el,
    list.map((d) => {
      const c = d.connections;
      const faults = d.faults ?? [];
      return h(
        'li',
        {},
        badge(fmt(d.name), (c?.faulted ?? 0) > 0 ? 'warn' : undefined),
        ` → ${fmt(d.upstream)} · ${fmt(c?.live ?? 0)} live, ${fmt(c?.faulted ?? 0)} faulted`,
        ...faults.map((f) =>
          h(
            'span',
            {},
            ' ',
            badge(fmt(f.type), 'warn'),
            ` ${fmt(f.rule)}${f.version ? ` (${fmt(f.version)})` : ''} on ${fmt(f.connections)}`,
          ),
        ),
      );
    }),
  );
}

/** A decision (an audit record, or the summary a decision event carries) or a rollback, as one line. */
export function decisionItem(
  d: Pick<AuditRecord, 'at' | 'action' | 'canaryWeight' | 'reasons' | 'source'> & { type?: string },
): HTMLElement {
  const reasons = d.reasons.join('; ');
  return h(
    'li',
    {},
    h('span', { class: 'time' }, time(d.at)),
    ' ',
    badge(fmt(d.action ?? d.type)),
    ` ${d.canaryWeight !== undefined ? `→ ${fmt(d.canaryWeight)}% ` : ''}${d.source ? `(${d.source}) ` : ''}${reasons}`,
  );
}

export function renderDecisions(el: Element, decisions: DecisionsList | null, missing: boolean): void {
  if (missing) return replace(el, [h('li', { class: 'muted' }, 'no rollout controller on this canaryd')]);
  const list = (decisions?.decisions ?? []).slice(0, 50); // newest first, as the API lists them
  replace(el, list.length > 0 ? list.map(decisionItem) : [h('li', { class: 'muted' }, 'no decisions yet')]);
}

export function eventItem(e: CanarydEvent): HTMLElement {
  let text: string;
  switch (e.type) {
    case 'weights':
      text = `canary ${fmt(e.previous)}% → ${fmt(e.canary)}% (${fmt(e.owner)}: ${fmt(e.reason)})`;
      break;
    case 'config':
      text = `config ${fmt(e.action)} (${fmt(e.source)})${e.problems?.length ? `: ${e.problems.join('; ')}` : ''}`;
      break;
    case 'flag':
      text = `flag ${fmt(e.flag.key)} ${fmt(e.action)} (${e.flag.enabled ? 'on' : 'off'})`;
      break;
    case 'decision': {
      const d = e.decision;
      text = `${fmt(d?.action)} → ${fmt(d?.canaryWeight)}% (${fmt(d?.source)}): ${fmt(d?.reasons[0] ?? '')}`;
      break;
    }
    case 'rollout':
      text =
        e.action === 'gate-refused'
          ? `${fmt(e.gate)} gate refused: ${fmt(e.reason)}`
          : `${fmt(e.phase)}${e.phase === 'progressing' || e.phase === 'paused' ? `, step ${Number(e.step) + 1}` : ''}, canary ${fmt(e.canaryWeight)}%${e.reason ? `: ${fmt(e.reason)}` : ''}`;
      break;
    case 'drift':
      text = `drift ${fmt(e.action)}: ${e.items.map((i) => i.path).join(', ') || 'in sync'}`;
      break;
    case 'snapshot':
      text = '';
      break;
    default:
      text = `${fmt(e.action)} ${fmt((e.type === 'experiment' ? e.name : undefined) ?? e.reason ?? '')}`;
  }
  return h('li', { 'data-type': String(e.type) }, h('span', { class: 'time' }, time(e.at)), ' ', badge(String(e.type), ''), ` ${text}`);
}
