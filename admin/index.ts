export { buildAdmin, type AdminDeps, type AuthGuard } from './server.js';
export { tokenMatches, bearerOf, FailureLimiter } from './auth.js';
