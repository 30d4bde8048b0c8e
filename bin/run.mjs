// Runs a TypeScript entry point of this package through tsx, so a checkout works without a build step
// (npm here runs no install scripts, so nothing could build on install).
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';

register();

export async function run(entry) {
  const url = new URL(`../src/${entry}`, import.meta.url);
  const mod = await import(fileURLToPath(url));
  const code = await mod.main(process.argv.slice(2));
  if (typeof code === 'number') process.exitCode = code;
}
