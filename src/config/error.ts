// Its own module, free of the schema (zod): what a command's exit code is decided on, loaded at start-up.
export class ConfigError extends Error {
  override name = 'ConfigError';
}
