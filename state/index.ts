export { StateStore } from './store.js';
