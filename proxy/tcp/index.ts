/** The dependency relay: TCP listeners in front of the app's dependencies, and the TCP fault kinds. */
export { DependencyRelay, type DependencyRelayOptions, type DependencyView } from './relay.js';
export { builtinTcpFaultKinds, tcpFaultKind, type TcpFaultKind, type TcpFaultRegistry, type TcpFault } from './kinds.js';
