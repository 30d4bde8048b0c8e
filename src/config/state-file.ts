import { ConfigError } from './error.js';

/**
 * Reads files of a service's state directory (the pinned root, development key files): one missing or
 * unreadable is a deployment step not done, a configuration to fix (exit 2) naming the file and where the
 * directory comes from.
 */
export function stateDirFile<T>(config: { stateDir: string; file: string | null }, service: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    throw new ConfigError(
      `${(e as Error).message}; ${service} reads it from its state directory ${config.stateDir} (state_dir in ${config.file ?? `${service}.toml`}, --state-dir or $PAYSERV_STATE_DIR)`,
    );
  }
}
