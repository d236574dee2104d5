/**
 * The canary weight over time (uPlot, a stepped line from the same per-second points as the other charts)
 * with each decision as a marker: PROMOTE / CONTINUE / ROLLBACK from the engine or an operator (start,
 * promote, roll back are decisions too), and operator pauses and resumes. A uPlot plugin places the markers
 * — small DOM elements in the plot's overlay, at (decision time, weight after it) — on every redraw, so
 * they follow the scale; hovering or focusing one shows its reason in a tooltip element.
 *
 * For tests and people: the chart carries `data-points`, `data-last` (the current weight) and
 * `data-markers` (markers in view); each marker `data-action`, `data-at` and `data-reason`; the tooltip
 * `data-action` and `data-at` of the marker it shows.
 */
import uPlot from 'uplot';
import { CAN, KEEP, series } from './charts.js';
import type { ChartPoint, PointSink } from './feed.js';

export interface Marker {
  /** epoch ms */
  at: number;
  action: string;
  /** the first is the reason; an analysis decision then gives the verdict and each check's message */
  reasons: string[];
  source?: string;
  canaryWeight?: number;
  dryRun?: boolean;
}

/** markers kept at most (the newest): the decision log keeps 500, the chart shows 5 minutes */
const MAX_MARKERS = 300;

/** the seconds a snapshot point summarises (GET /api/v1/history spanMs) */
const SPAN_S = 5;
/** reasons shown in the tooltip (an analysis decision lists every check's message after the first two) */
const TIP_REASONS = 2;

const time = (ms: number) => new Date(ms).toLocaleTimeString();

export class WeightChart implements PointSink {
  readonly #el: HTMLElement;
  readonly #tip: HTMLElement;
  readonly #plot: uPlot;
  readonly #data: [number[], Array<number | null>] = [[], []];
  readonly #markers = new Map<string, { m: Marker; node: HTMLElement }>();

  constructor(el: HTMLElement, tip: HTMLElement) {
    this.#el = el;
    this.#tip = tip;
    const place = (u: uPlot) => this.#place(u);
    const opts: uPlot.Options = {
      width: Math.max(300, el.clientWidth || 500),
      height: 200,
      series: [{}, { ...series('canary weight', CAN), paths: uPlot.paths.stepped!({ align: 1 }), fill: 'rgba(245,166,35,.12)' }],
      scales: { x: { time: true }, y: { range: [0, 100] } },
      axes: [
        { stroke: '#aaa', grid: { stroke: '#2a2f3a' }, space: 70, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300] },
        { stroke: '#aaa', grid: { stroke: '#2a2f3a' }, values: (_u, ticks) => ticks.map((t) => `${t}%`) },
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      plugins: [{ hooks: { draw: place, setSize: place } }],
    };
    this.#plot = new uPlot(opts, this.#data as uPlot.AlignedData, el);
    window.addEventListener('resize', () => this.#plot.setSize({ width: Math.max(300, el.clientWidth), height: 200 }));
  }

  add(points: readonly ChartPoint[]): void {
    const [xs, ws] = this.#data;
    let last: number | null | undefined;
    for (const p of points) {
      if (xs.length > 0 && xs[xs.length - 1] >= p.x) continue;
      xs.push(p.x);
      ws.push(p.canaryWeight);
      last = p.canaryWeight;
    }
    if (last === undefined) return;
    if (xs.length > KEEP) for (const col of this.#data) col.splice(0, col.length - KEEP);
    this.#plot.setData(this.#data as uPlot.AlignedData);
    this.#el.dataset.points = String(xs.length);
    this.#el.dataset.last = JSON.stringify(last);
  }

  /** Adds decisions (from GET /api/v1/decisions or a live event); one marker per time and action. */
  mark(markers: readonly Marker[]): void {
    let added = false;
    for (const m of markers) {
      const key = `${m.at}|${m.action}`;
      if (this.#markers.has(key) || !Number.isFinite(m.at)) continue;
      this.#markers.set(key, { m, node: this.#node(m) });
      added = true;
    }
    if (!added) return;
    if (this.#markers.size > MAX_MARKERS) {
      const oldest = [...this.#markers.entries()].sort((a, b) => a[1].m.at - b[1].m.at).slice(0, this.#markers.size - MAX_MARKERS);
      for (const [key, { node }] of oldest) {
        node.remove();
        this.#markers.delete(key);
      }
    }
    this.#place(this.#plot);
  }

  #node(m: Marker): HTMLElement {
    const node = document.createElement('span');
    node.className = `marker marker-${m.action.toLowerCase()}`;
    node.tabIndex = 0;
    node.dataset.action = m.action;
    node.dataset.at = String(m.at);
    node.dataset.reason = m.reasons[0] ?? '';
    node.setAttribute('aria-label', `${m.action}: ${m.reasons[0] ?? ''}`);
    const show = () => this.#show(m, node);
    const hide = () => (this.#tip.hidden = true);
    node.addEventListener('mouseenter', show);
    node.addEventListener('focus', show);
    node.addEventListener('mouseleave', hide);
    node.addEventListener('blur', hide);
    return node;
  }

  /** The plugin's draw hook: each marker at (its time, the weight after it), hidden outside the x range. */
  #place(u: uPlot): void {
    const xs = this.#data[0];
    const min = xs[0];
    const max = xs[xs.length - 1];
    let shown = 0;
    for (const { m, node } of this.#markers.values()) {
      const x = m.at / 1000;
      // a point summarises the span (5 s) before its `to`: a decision within the first point's span is drawn
      // at it (an automatic start before the first tick); one up to a second past the last point is drawn at
      // the last (the point that shows its weight is next)
      const inView = xs.length > 0 && x >= min - SPAN_S && x <= max + 1.5;
      if (!inView) {
        node.hidden = true;
        continue;
      }
      if (node.parentElement !== u.over) u.over.append(node);
      node.hidden = false;
      node.style.left = `${u.valToPos(Math.min(Math.max(x, min), max), 'x')}px`;
      node.style.top = `${u.valToPos(m.canaryWeight ?? this.#weightAt(x) ?? 0, 'y')}px`;
      shown++;
    }
    this.#el.dataset.markers = String(shown);
  }

  #weightAt(x: number): number | null {
    const [xs, ws] = this.#data;
    let w: number | null = null;
    for (let i = 0; i < xs.length && xs[i] <= x; i++) w = ws[i];
    return w;
  }

  #show(m: Marker, node: HTMLElement): void {
    const tip = this.#tip;
    const head = `${m.action}${m.dryRun ? ' (dry run)' : ''}${m.canaryWeight !== undefined ? ` → ${m.canaryWeight}%` : ''} · ${time(m.at)}${m.source ? ` · ${m.source}` : ''}`;
    const reasons = m.reasons.length > 0 ? m.reasons.slice(0, TIP_REASONS) : ['(no reason recorded)'];
    const more = m.reasons.length - reasons.length;
    const lines = [head, ...reasons, ...(more > 0 ? [`+ ${more} more in the decision log`] : [])];
    tip.replaceChildren(
      ...lines.map((l, i) => Object.assign(document.createElement('div'), { className: i === 0 ? 'tip-head' : '', textContent: l })),
    );
    tip.dataset.action = m.action;
    tip.dataset.at = String(m.at);
    tip.hidden = false;
    // placed beside the marker, within the tooltip's positioned parent (the chart's card)
    const parent = (tip.offsetParent as HTMLElement | null) ?? tip.parentElement!;
    const pr = parent.getBoundingClientRect();
    const nr = node.getBoundingClientRect();
    const left = Math.min(nr.left - pr.left + 12, pr.width - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(4, left)}px`;
    tip.style.top = `${nr.top - pr.top + 12}px`;
  }
}
