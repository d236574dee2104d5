export { buildAdmin, registeredRoutes, type AdminDeps, type AuthGuard, type AdminLog } from './server.js';
export { tokenMatches, bearerOf, FailureLimiter, AdminAuth, isCrossSite, tokenFromProtocols, WS_PROTOCOL } from './auth.js';
export { EventBus, type CanarydEvent, type EventInput, type EventSink, type EventListener } from './events/bus.js';
export { SnapshotPublisher, computeSnapshot, type Snapshot } from './events/snapshot.js';
export { SnapshotHistory, HISTORY_CAPACITY, type HistoryPoint } from './events/history.js';
export { FlagService, FLAGS_FILE, type FlagAction } from './flags/service.js';
export { flagRule, flagRules, type Flag, type FlagKind, FLAG_KINDS } from './flags/model.js';
export { checkFlag, type CheckResult } from './flags/check.js';
export { DriftReconciler, configDiff, type DriftItem, type DriftSource, type DriftReport } from './drift.js';
export { configDriftSource, weightDriftSource, flagDriftSource } from './drift-sources.js';
export { describeValidation, errorBodySchema } from './errors.js';
export { DASHBOARD_CSP } from './routes/dashboard.js';
export { type RolloutRouteDeps } from './routes/rollout.js';
export { InfoMetrics, MetricsListener } from './metrics-listener.js';
export { alertRoutes, matchAbortOn, type AlertmanagerAlert } from './routes/alerts.js';
export { faultRoutes } from './routes/faults.js'; // faults
export { dependencyRoutes, type DependencySource } from './routes/dependencies.js';
export { faultDriftSource } from './fault-drift.js'; // faults
export { AdminToken } from './token.js';
export { hostAllowlist, hostOf } from './hosts.js';
export { LogThrottle } from './log-throttle.js';
