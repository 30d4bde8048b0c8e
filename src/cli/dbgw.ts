// dbgw: the database gateway, in the foreground (systemd runs it: deploy/dbgw.service). It serves its
// version call at once and its database operations once it has a database; SIGTERM stops it.
import { startDbgw } from '../dbgw/service.js';
import { runService } from './serve.js';

export const main = (argv: string[]): Promise<number> =>
  runService(argv, 'dbgw', 'dbgw: the database gateway; the only process holding the database credentials', startDbgw);
