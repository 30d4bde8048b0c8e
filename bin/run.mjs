// Runs a compiled entry point of this package (dist/, made by `npm run build`): nothing is compiled or
// downloaded at run time.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export async function run(entry) {
  const path = fileURLToPath(new URL(`../dist/${entry}.js`, import.meta.url));
  if (!existsSync(path)) {
    process.stderr.write(`${path} is missing: run npm run build first\n`);
    process.exit(2);
  }
  const mod = await import(path);
  const code = await mod.main(process.argv.slice(2));
  if (typeof code === 'number') process.exitCode = code;
}
