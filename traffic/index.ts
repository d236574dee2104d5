export {
  TrafficState,
  type MirrorRoute,
  type RouteTable,
  type RoutingSettings,
  type TrafficChange,
  type TrafficSnapshot,
  type TrafficStateOptions,
} from './state.js';
export { readPersistedWeights, WEIGHTS_FILE, type PersistedWeights } from './persist.js';
