/**
 * The canaryd dashboard: one page, bundled offline by esbuild (scripts/build-dashboard.mjs) with uPlot, no
 * CDN, served under a strict CSP. Charts of the per-second snapshots — the last minutes from
 * GET /api/v1/history at load (and after a reconnect), then the event stream's live ones (./feed.ts) — and
 * of the canary weight with each decision as a marker (./weight-chart.ts); rollout status,
 * analysis, faults and decisions polled from the admin API (and refreshed at once on a relevant event);
 * pause / resume / promote / roll back buttons that ask for the admin token (kept in sessionStorage).
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { adoptTokenFromUrl, api, getToken, openEvents, setToken, type ApiResult } from './api.js';
import type {
  AnalysisReport,
  CanarydEvent,
  DecisionsList,
  DependencyList,
  FaultsView,
  HelloMessage,
  HistoryView,
  RolloutStatus,
  StatusView,
} from '../../../contract/index.js';
import { KEEP, LiveCharts } from './charts.js';
import { fromHistory, fromSnapshot, PointFeed } from './feed.js';
import { WeightChart, type Marker } from './weight-chart.js';
import {
  decisionItem,
  eventItem,
  fmt,
  renderAnomalies,
  renderChecks,
  renderDecisions,
  renderDependencies,
  renderFaults,
  renderTimeline,
} from './panels.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const POLL_MS = 2000;
const ACTIONS: Record<string, { path: string; title: string; text: string }> = {
  start: {
    path: '/api/v1/rollout/start',
    title: 'Start a rollout',
    text: 'The canary goes to the first step (after any pre-rollout gates approve); from there the analysis promotes or rolls it back.',
  },
  retry: { path: '/api/v1/rollout/retry', title: 'Retry the rollout', text: 'Starts the rolled-back rollout again from the first step.' },
  pause: {
    path: '/api/v1/rollout/pause',
    title: 'Pause the rollout',
    text: 'Analysis keeps running; the weight stays where it is until you resume.',
  },
  resume: { path: '/api/v1/rollout/resume', title: 'Resume the rollout', text: 'The controller continues from the current step.' },
  promote: {
    path: '/api/v1/rollout/promote',
    title: 'Promote the canary',
    text: 'Moves the canary to the next step, or to 100 % with "promote fully".',
  },
  rollback: { path: '/api/v1/rollout/rollback', title: 'Roll back', text: 'All traffic goes back to baseline (canary weight 0).' },
};

function notice(text: string, cls = ''): void {
  const n = $('notice');
  n.textContent = text;
  n.className = cls || 'muted';
}

/** Opens a dialog and resolves with the clicked result (Enter = ok, Escape = cancel). */
function ask(dialog: HTMLDialogElement, ok: HTMLElement, cancel: HTMLElement, focus: HTMLInputElement): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      ok.removeEventListener('click', yes);
      cancel.removeEventListener('click', no);
      dialog.removeEventListener('keydown', key);
      dialog.removeEventListener('cancel', no);
      dialog.close();
      resolve(v);
    };
    const yes = () => done(true);
    const no = () => done(false);
    const key = (e: KeyboardEvent) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        done(true);
      }
    };
    ok.addEventListener('click', yes);
    cancel.addEventListener('click', no);
    dialog.addEventListener('keydown', key);
    dialog.addEventListener('cancel', no);
    dialog.showModal();
    focus.focus();
  });
}

async function askToken(): Promise<boolean> {
  const input = $<HTMLInputElement>('token-input');
  input.value = getToken() ?? '';
  const ok = await ask($<HTMLDialogElement>('token-dialog'), $('token-save'), $('token-cancel'), input);
  if (ok) setToken(input.value.trim() || null);
  return ok && input.value.trim() !== '';
}

async function act(action: string, charts: Charts): Promise<void> {
  const a = ACTIONS[action];
  if (!getToken() && !(await askToken())) return notice('an admin token is needed for this', 'warn');
  $('confirm-title').textContent = a.title;
  $('confirm-text').textContent = a.text;
  const reason = $<HTMLInputElement>('confirm-reason');
  reason.value = '';
  reason.hidden = action !== 'rollback' && action !== 'pause' && action !== 'start';
  $('confirm-full-label').hidden = action !== 'promote';
  $<HTMLInputElement>('confirm-full').checked = false;
  if (
    !(await ask(
      $<HTMLDialogElement>('confirm-dialog'),
      $('confirm-ok'),
      $('confirm-cancel'),
      reason.hidden ? $<HTMLInputElement>('confirm-full') : reason,
    ))
  )
    return;
  const body: Record<string, unknown> = {};
  if (!reason.hidden && reason.value.trim()) body.reason = reason.value.trim();
  if (action === 'promote' && $<HTMLInputElement>('confirm-full').checked) body.full = true;
  let r = await api<RolloutStatus>('POST', a.path, body);
  if (r.status === 401 && (await askToken())) r = await api<RolloutStatus>('POST', a.path, body);
  if (r.ok) notice(`${action}: done`, 'good');
  else if (r.missing) notice(`${action}: this canaryd has no rollout controller (${a.path} is 404)`, 'warn');
  else notice(`${action} failed: ${r.status} ${r.body?.error ?? ''} ${r.body?.message ?? ''}`, 'bad');
  void refresh(charts);
}

/** Routes found missing (404) are asked again only every 30 s: the engine may be added by a restart. */
const missingSince = new Map<string, number>();
async function getOptional<T>(path: string): Promise<ApiResult<T>> {
  const since = missingSince.get(path);
  if (since !== undefined && Date.now() - since < 30_000) return { status: 404, ok: false, body: null, missing: true };
  const r = await api<T>('GET', path);
  if (r.missing) missingSince.set(path, Date.now());
  else missingSince.delete(path);
  return r;
}

let refreshing = false;
let stopLive: (() => void) | null = null;

interface Charts {
  feed: PointFeed;
  weight: WeightChart;
}

/** A decision as a weight-chart marker: an audit record (GET /api/v1/decisions) or a decision event's summary. */
function markerOf(d: {
  at: number;
  action?: string;
  type?: string;
  reasons?: string[];
  reason?: string;
  source?: string;
  canaryWeight?: number;
  dryRun?: unknown;
}): Marker {
  const reasons = d.reasons && d.reasons.length > 0 ? d.reasons : d.reason ? [d.reason] : [];
  return {
    at: d.at,
    action: String(d.action ?? d.type ?? 'DECISION'),
    reasons,
    source: d.source,
    canaryWeight: d.canaryWeight,
    dryRun: d.dryRun === true,
  };
}

/** The last minutes of points, then live again; on failure (no route, a network error) just live. */
async function backfill(feed: PointFeed): Promise<void> {
  const r = await getOptional<HistoryView>(`/api/v1/history?seconds=${KEEP}`);
  feed.release(r.ok ? r.body.points.map(fromHistory) : []);
}

/** Reads need the token (admin.authReads) and we have none or a wrong one: stop polling, ask, start over. */
async function readsRefused(): Promise<void> {
  stopLive?.();
  stopLive = null;
  notice('this canaryd needs the admin token for reads', 'warn');
  if (await askToken()) location.reload();
}

async function refresh(charts: Charts): Promise<void> {
  if (refreshing || stopLive === null) return;
  refreshing = true;
  try {
    const [status, analysis, decisions, faults, deps] = await Promise.all([
      api<StatusView>('GET', '/api/v1/status'),
      getOptional<AnalysisReport>('/api/v1/analysis'),
      getOptional<DecisionsList>('/api/v1/decisions'),
      getOptional<FaultsView>('/api/v1/faults'),
      getOptional<DependencyList>('/api/v1/dependencies'),
    ]);
    if (status.status === 401) {
      void readsRefused();
      return;
    }
    if (status.ok) {
      const s = status.body;
      const v = s.versions;
      $('versions').textContent = `baseline ${fmt(v?.baseline.version)} · canary ${fmt(v?.canary.version)}`;
      $('weight').textContent = `canary ${fmt(s.weights.canary)}%`;
      $('weight').dataset.weight = String(s.weights.canary);
      $('phase').textContent = s.rollout ? `rollout ${fmt(s.rollout.phase)}` : 'rollout n/a';
      renderTimeline($('timeline'), $('rollout-detail'), s);
    }
    const absent = analysis.missing
      ? 'no analysis engine on this canaryd (GET /api/v1/analysis is 404)'
      : analysis.status === 404
        ? String((analysis.ok ? undefined : analysis.body?.message) ?? 'no analysis yet') // e.g. no rollout has been analysed yet
        : null;
    const checks = renderChecks(
      {
        reason: $('analysis-reason'),
        detailSummary: $('analysis-detail-summary'),
        tbody: $('checks').querySelector('tbody')!,
        verdict: $('verdict'),
        note: $('analysis-note'),
      },
      analysis.ok ? analysis.body : null,
      absent,
    );
    renderAnomalies($('anomalies'), checks);
    renderFaults($('faults'), faults.ok ? faults.body : null, faults.missing || faults.status === 404);
    renderDependencies($('dependencies'), deps.ok ? deps.body : null, deps.missing || deps.status === 404);
    renderDecisions($('decisions'), decisions.ok ? decisions.body : null, decisions.missing || decisions.status === 404);
    if (decisions.ok) charts.weight.mark(decisions.body.decisions.map(markerOf));
  } finally {
    refreshing = false;
  }
}

let lastPhase: string | undefined;

function onEvent(e: CanarydEvent | HelloMessage, charts: Charts): void {
  if (e.type === 'snapshot') {
    const p = fromSnapshot(e);
    if (p) charts.feed.live(p);
    return;
  }
  if (e.type === 'hello') return;
  if (e.type === 'decision' && e.decision) charts.weight.mark([markerOf(e.decision)]);
  // operator pauses and resumes are no decisions: marked from the phase changes (replayed at connect too)
  if (e.type === 'rollout' && e.action === undefined && e.phase !== undefined) {
    if (e.phase === 'paused' && lastPhase !== 'paused')
      charts.weight.mark([{ at: e.at, action: 'PAUSE', reasons: [e.reason ?? 'paused'], canaryWeight: e.canaryWeight }]);
    else if (e.phase === 'progressing' && lastPhase === 'paused')
      charts.weight.mark([{ at: e.at, action: 'RESUME', reasons: ['resumed'], canaryWeight: e.canaryWeight }]);
    lastPhase = e.phase;
  }
  const log = $('events');
  if (log.firstElementChild?.classList.contains('muted')) log.replaceChildren();
  log.prepend(eventItem(e));
  while (log.children.length > 100) log.lastElementChild!.remove();
  if (e.type === 'decision') {
    const d = $('decisions');
    if (d.firstElementChild?.classList.contains('muted')) d.replaceChildren();
    if (e.decision) d.prepend(decisionItem(e.decision));
  }
  void refresh(charts);
}

function main(): void {
  adoptTokenFromUrl();
  const live = new LiveCharts({ rate: $('chart-rate'), errors: $('chart-errors'), latency: $('chart-latency') });
  const weight = new WeightChart($('chart-weight'), $('weight-tip'));
  const charts: Charts = { feed: new PointFeed([live, weight]), weight };
  $('events').replaceChildren(Object.assign(document.createElement('li'), { className: 'muted', textContent: 'waiting for events' }));
  for (const btn of document.querySelectorAll<HTMLButtonElement>('button[data-action]'))
    btn.addEventListener('click', () => void act(btn.dataset.action!, charts));
  $('token-btn').addEventListener(
    'click',
    () => void askToken().then(() => notice(getToken() ? 'token saved for this tab' : 'token cleared')),
  );
  void startLive(charts);
}

/** Starts the event stream and polling once a read succeeds (no failed-auth noise while the token is missing). */
async function startLive(charts: Charts): Promise<void> {
  const probe = await api<StatusView>('GET', '/api/v1/status');
  if (probe.status === 401) return readsRefused();
  const stream = openEvents(
    (e) => onEvent(e, charts),
    (up) => {
      const c = $('conn');
      c.textContent = up ? 'live' : 'offline';
      c.className = `pill ${up ? 'conn-up' : 'conn-down'}`;
      // live points are held from here until the history covering the gap is drawn (./feed.ts)
      if (up) void backfill(charts.feed);
      else charts.feed.hold();
    },
  );
  const timer = setInterval(() => void refresh(charts), POLL_MS);
  stopLive = () => {
    clearInterval(timer);
    stream.close();
  };
  void refresh(charts);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
else main();
