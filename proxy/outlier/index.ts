export {
  OutlierDetector,
  OUTLIER_ERROR_KINDS,
  type OutlierChange,
  type OutlierErrorKind,
  type OutlierSettings,
  type UpstreamHealthState,
  type UpstreamHealthView,
} from './detector.js';
export { UpstreamHealthMetrics } from './metrics.js';
