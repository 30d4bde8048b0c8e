// Executables whose issue has not landed yet: they say so and exit 2, so nothing mistakes them for working.
import { EXIT } from './exit.js';

export function notBuilt(name: string, issue: number, what: string): (argv: string[]) => Promise<number> {
  return async () => {
    process.stderr.write(`${name}: not built yet (issue ${issue}: ${what})\n`);
    return EXIT.USAGE;
  };
}
