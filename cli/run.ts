/**
 * `canaryd --config FILE`: load, start, reload on SIGHUP, drain on SIGTERM/SIGINT. Exit codes: 0 drained
 * with nothing cut; 3 drained but requests were cut at shutdown.drainTimeout (a deploy can see it); 1 an
 * error while stopping; a second SIGTERM/SIGINT during the drain exits at once with 128 + the signal number.
 */
import { isCanarydError } from '../core/index.js';
import { listenSettings, loadConfigFile } from '../config/index.js';
import { Sidecar } from '../sidecar.js';

/** "canaryd: cannot listen on X (the KEY key): address already in use", or undefined for other errors. */
export function listenFailure(e: unknown, config: { listen: string; admin: { listen: string } }): string | undefined {
  const err = e as { code?: string; port?: number; address?: string };
  if (err?.code !== 'EADDRINUSE' && err?.code !== 'EACCES' && err?.code !== 'EADDRNOTAVAIL') return undefined;
  const key = config.admin.listen.endsWith(`:${err.port}`) ? 'admin.listen' : 'listen';
  const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : 'address not available';
  return `canaryd: cannot listen on ${key === 'listen' ? config.listen : config.admin.listen} (${key}): ${why}`;
}

/** Returns -1: the process keeps running until a signal ends it. */
export async function runSidecarFromFile(file: string): Promise<number> {
  let config;
  try {
    config = loadConfigFile(file);
  } catch (e) {
    if (isCanarydError(e)) {
      console.error(`${file}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const sidecar = new Sidecar({ config, configPath: file, raiseFdLimit: true });
  try {
    await sidecar.start();
  } catch (e) {
    const line = listenFailure(e, { listen: listenSettings(config.listen).address, admin: config.admin });
    if (!line) throw e;
    console.error(line); // one clear line, not a stack: the usual cause is another process on the port
    process.exit(1);
  }
  sidecar.watchConfig();
  process.on('SIGHUP', () => sidecar.reload('SIGHUP'));
  let stopping = false;
  const stop = (signal: 'SIGTERM' | 'SIGINT') => {
    const code = signal === 'SIGINT' ? 130 : 143;
    if (stopping) {
      sidecar.log.warn({ event: 'signal', signal, inflight: sidecar.proxy.inflight }, `second ${signal} while draining: exiting now`);
      sidecar.log.flush?.();
      process.exit(code);
    }
    stopping = true;
    sidecar.log.info({ event: 'signal', signal }, `received ${signal}, draining`);
    sidecar.stop().then(
      ({ cut }) => {
        if (cut > 0) sidecar.log.warn({ event: 'requests_cut', cut }, `${cut} requests were cut at shutdown.drainTimeout: exit 3`);
        process.exit(cut > 0 ? 3 : 0);
      },
      (e) => {
        sidecar.log.error({ err: e }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}
