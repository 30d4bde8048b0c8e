export {
  ConfigError,
  defaultStateDir,
  formatIssues,
  loadConfig,
  type BaseConfig,
  type Config,
  type Env,
  type LoadOptions,
} from './load.js';
export { LOG_LEVELS, SERVICES, type FileConfig, type LogLevel, type Service } from './schema.js';
