/**
 * Live charts (uPlot, bundled): request rate, error rate and latency percentiles per version, fed per-second
 * points by the PointFeed (./feed.ts: the history on load, then the live `snapshot` events). Keeps the last
 * 5 minutes. Each chart container carries `data-points` and `data-last` (the latest values) so a test or a
 * person can read what is drawn (`data-first` / `data-last-x`: the first and last second). The weight chart is ./weight-chart.ts.
 */
import uPlot from 'uplot';
import type { ChartPoint, PointSink } from './feed.js';

/** points kept per chart: 5 minutes at one a second (and the seconds of history asked for at load) */
export const KEEP = 300;
export const BASE = '#4c8bf5';
export const CAN = '#f5a623';

type Row = number | null;

interface Chart {
  el: HTMLElement;
  plot: uPlot;
  data: Row[][];
  pick: (p: ChartPoint) => Row[];
}

export function series(label: string, stroke: string, dash?: number[]): uPlot.Series {
  return { label, stroke, width: 2, dash, spanGaps: false, points: { show: false } };
}

function make(el: HTMLElement, labels: uPlot.Series[], pick: (p: ChartPoint) => Row[], unit: string): Chart {
  const data: Row[][] = [[], ...labels.map(() => [])];
  const opts: uPlot.Options = {
    width: Math.max(300, el.clientWidth || 500),
    height: 200,
    series: [{}, ...labels],
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [
      { stroke: '#aaa', grid: { stroke: '#2a2f3a' }, space: 70, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300] },
      { stroke: '#aaa', grid: { stroke: '#2a2f3a' }, values: (_u, ticks) => ticks.map((t) => `${+t.toFixed(2)}${unit}`) },
    ],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
  const plot = new uPlot(opts, data as uPlot.AlignedData, el);
  return { el, plot, data, pick };
}

const ms = (x: number | null | undefined): Row => (typeof x === 'number' ? x : null);
const pct = (x: number | null | undefined): Row => (typeof x === 'number' ? Math.round(x * 10_000) / 100 : null);

export class LiveCharts implements PointSink {
  #charts: Chart[] = [];

  constructor(root: { rate: HTMLElement; errors: HTMLElement; latency: HTMLElement }) {
    this.#charts.push(
      make(root.rate, [series('baseline', BASE), series('canary', CAN)], (s) => [s.versions.baseline.rps, s.versions.canary.rps], ''),
      make(
        root.errors,
        [series('baseline', BASE), series('canary', CAN)],
        (s) => [pct(s.versions.baseline.errorRate), pct(s.versions.canary.errorRate)],
        '%',
      ),
      make(
        root.latency,
        [
          series('baseline p50', BASE, [2, 4]),
          series('baseline p95', BASE),
          series('baseline p99', BASE, [8, 4]),
          series('canary p50', CAN, [2, 4]),
          series('canary p95', CAN),
          series('canary p99', CAN, [8, 4]),
        ],
        (s) => [
          ms(s.versions.baseline.p50Ms),
          ms(s.versions.baseline.p95Ms),
          ms(s.versions.baseline.p99Ms),
          ms(s.versions.canary.p50Ms),
          ms(s.versions.canary.p95Ms),
          ms(s.versions.canary.p99Ms),
        ],
        '',
      ),
    );
    window.addEventListener('resize', () => this.resize());
  }

  /** Appends points (x = the end of each snapshot's span, in seconds), redrawing each chart once. */
  add(points: readonly ChartPoint[]): void {
    for (const c of this.#charts) {
      const xs = c.data[0];
      let ys: Row[] | null = null;
      for (const p of points) {
        if (xs.length > 0 && (xs[xs.length - 1] as number) >= p.x) continue; // duplicate or out of order
        ys = c.pick(p);
        xs.push(p.x);
        ys.forEach((y, i) => c.data[i + 1].push(y));
      }
      if (ys === null) continue;
      if (xs.length > KEEP) for (const col of c.data) col.splice(0, col.length - KEEP);
      c.plot.setData(c.data as uPlot.AlignedData);
      c.el.dataset.points = String(xs.length);
      c.el.dataset.first = String(xs[0]);
      c.el.dataset.lastX = String(xs[xs.length - 1]);
      c.el.dataset.last = JSON.stringify(ys);
    }
  }

  resize(): void {
    for (const c of this.#charts) c.plot.setSize({ width: Math.max(300, c.el.clientWidth), height: 200 });
  }
}
