// Finding, reading and validating a service's configuration file, then applying the environment.
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { ConfigError } from './error.js';
import {
  baseShape,
  DEFAULT_LOG_LEVEL,
  fileSchema,
  SERVICES,
  type BaseFileConfig,
  type FileConfig,
  type LogLevel,
  type Service,
} from './schema.js';

export { ConfigError } from './error.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface LoadOptions {
  /** Defaults to process.env; tests pass their own so the ambient environment cannot leak in. */
  env?: Env;
  /** A state directory given on the command line: wins over the environment and the file. */
  stateDir?: string | undefined;
}

/** How to reach the database (the connection is opened in src/db/open.ts). */
export interface DatabaseSettings {
  /** A PostgreSQL URL; absent means the embedded database under the state directory. */
  url?: string | undefined;
  poolSize?: number;
  statementTimeoutMs?: number;
}

export interface BaseConfig<S extends Service> {
  service: S;
  /** The file that was read (absolute), or null when running on defaults alone. */
  file: string | null;
  /** Absolute. */
  stateDir: string;
  database: Required<Pick<DatabaseSettings, 'poolSize' | 'statementTimeoutMs'>> & {
    /** May contain a password: show it only through redactUrl. Undefined = embedded PGlite in <stateDir>/db. */
    url: string | undefined;
    /** pscli's and payserv's explicit opt-in to the embedded database when there is no url (false for dbgw). */
    embedded: boolean;
  };
  log: { level: LogLevel };
}

/** The resolved configuration: base settings in camelCase, plus the service's own tables as parsed. */
export type Config<S extends Service = Service> = BaseConfig<S> & Omit<FileConfig<S>, keyof typeof baseShape>;

/** Empty environment variables count as unset, as a shell's `VAR= cmd` intends. */
function envValue(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

function home(env: Env): string {
  return envValue(env, 'HOME') ?? homedir();
}

/** `~/x` is how operators write paths in config files; expand it rather than create a directory named "~". */
function expandHome(p: string, env: Env): string {
  return p === '~' || p.startsWith('~/') ? join(home(env), p.slice(1)) : p;
}

/** XDG base directory spec: $XDG_STATE_HOME if it is absolute, else ~/.local/state. */
export function defaultStateDir(env: Env = process.env): string {
  const xdg = envValue(env, 'XDG_STATE_HOME');
  return join(xdg && isAbsolute(xdg) ? xdg : join(home(env), '.local', 'state'), 'payserv');
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else {
      const s = String(k);
      const part = /^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s);
      out += out ? `.${part}` : part;
    }
  }
  return out;
}

/** One operator-facing line per problem, each naming the dotted key path. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`unknown key "${formatPath([...issue.path, key])}"`);
    } else {
      const where = formatPath(issue.path);
      lines.push(where ? `${where}: ${issue.message}` : issue.message);
    }
  }
  return lines.join('; ');
}

async function exists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function readToml(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'file not found'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : `cannot read (${code ?? (e as Error).message})`;
    throw new ConfigError(`config ${file}: ${why}`);
  }
  try {
    return parse(text);
  } catch (e) {
    if (e instanceof TomlError) {
      // Only the first line: the rest is an excerpt of the file, which may hold a database password.
      const first = e.message.split('\n')[0]?.replace(/^Invalid TOML document: /, '') ?? 'invalid TOML';
      throw new ConfigError(`config ${file}: invalid TOML at line ${e.line}, column ${e.column}: ${first}`);
    }
    throw e;
  }
}

/**
 * Loads the configuration of `service`. The file is `path` if given, else $PAYSERV_CONFIG, else
 * <stateDir>/<service>.toml if it exists, else none (all defaults). An explicitly named file must exist.
 * Precedence for the state directory: options.stateDir, $PAYSERV_STATE_DIR, the file's state_dir, the default;
 * for the database URL: $DATABASE_URL, then the file.
 */
export async function loadConfig<S extends Service>(service: S, path?: string, options: LoadOptions = {}): Promise<Config<S>> {
  if (!SERVICES.includes(service)) throw new ConfigError(`unknown service "${String(service)}"`);
  const env = options.env ?? process.env;
  const presetDir = options.stateDir ?? envValue(env, 'PAYSERV_STATE_DIR');
  const presetStateDir = presetDir === undefined ? undefined : resolve(expandHome(presetDir, env));

  let file: string | null = null;
  const explicit = path ?? envValue(env, 'PAYSERV_CONFIG');
  if (explicit !== undefined) {
    file = resolve(expandHome(explicit, env));
  } else {
    const candidate = join(presetStateDir ?? defaultStateDir(env), `${service}.toml`);
    if (await exists(candidate)) file = candidate;
  }

  const raw = file === null ? {} : await readToml(file);
  const result = fileSchema(service).safeParse(raw);
  if (!result.success) throw new ConfigError(`config ${file ?? '(defaults)'}: ${formatIssues(result.error.issues)}`);
  const { state_dir, database, log, ...own } = result.data as BaseFileConfig & Record<string, unknown>;

  // A relative state_dir means relative to the file that says it, not to wherever the service was started.
  const fileStateDir = state_dir === undefined || file === null ? undefined : resolve(dirname(file), expandHome(state_dir, env));

  const envUrl = envValue(env, 'DATABASE_URL');
  if (envUrl !== undefined && !/^postgres(ql)?:\/\//.test(envUrl)) {
    throw new ConfigError('environment DATABASE_URL: expected a postgres:// or postgresql:// URL');
  }

  return {
    ...(own as Omit<FileConfig<S>, keyof typeof baseShape>),
    service,
    file,
    stateDir: presetStateDir ?? fileStateDir ?? defaultStateDir(env),
    database: {
      url: envUrl ?? database.url,
      poolSize: database.pool_size,
      statementTimeoutMs: database.statement_timeout_ms,
      embedded: (database as { embedded?: boolean }).embedded === true,
    },
    log: { level: log.level ?? DEFAULT_LOG_LEVEL[service] },
  } as Config<S>;
}
