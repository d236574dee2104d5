/**
 * The admin API contract, defined once as TypeBox schemas: each gives the routes their JSON schema
 * (validation, serialisation, the OpenAPI document) and the CLI, the dashboard and the composition root
 * their TypeScript type. Imports only TypeBox.
 */
export * from './common.js';
export * from './status.js';
export * from './rollout.js';
export * from './flags.js';
export * from './events.js';
export * from './fleet.js';
export * from './faults.js';
export * from './config.js';
