/** The log the admin API writes to (pino's shape): given by the composition root. */
export interface AdminLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
