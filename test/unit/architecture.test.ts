// The architecture reads one way: dependencies between the top-level folders of src/ form no cycle,
// the pure layers (money, ledger) do no I/O, and only development code depends on the dev chains.
// Reads the source files (no database); every import, export-from and import() counts, type-only too.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** Folders that must stay free of I/O: pure rules over values and rows. */
const PURE = ['money', 'ledger'];
/** Computation, not I/O (hashes, signature checks): the one node: module pure code may use. */
const PURE_NODE_MODULES = ['node:crypto'];
/** Folders whose code reaches a database. */
const DATABASE = ['db', 'data', 'store'];
/** Packages that reach a database. */
const DATABASE_PACKAGES = ['pg', '@electric-sql/pglite'];
/** The only folders allowed to import src/devnet (production code must not depend on dev chains). */
const DEVNET_USERS = ['devnet', 'demo', 'cli'];

interface Import {
  from: string; // file, relative to src/
  specifier: string;
  to: string | null; // file relative to src/ when the specifier is relative, else null (a package)
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier of a file, as the TypeScript scanner sees them (comments and strings skipped). */
function importsOf(file: string): Import[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map(({ fileName: specifier }) => ({
    from: toSrc(file),
    specifier,
    to: specifier.startsWith('.') ? toSrc(resolve(dirname(file), specifier.replace(/\.js$/, '.ts'))) : null,
  }));
}

const toSrc = (path: string) => relative(SRC, path).split(sep).join('/');
const folderOf = (srcPath: string) => (srcPath.includes('/') ? srcPath.slice(0, srcPath.indexOf('/')) : '.');

const allImports = sourceFiles(SRC).flatMap(importsOf);

/** Edges between folders, each with one importing file as the example that names it. */
function folderGraph(imports: Import[]): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const i of imports) {
    if (i.to === null) continue;
    const [a, b] = [folderOf(i.from), folderOf(i.to)];
    if (a === b) continue;
    const out = graph.get(a) ?? new Map<string, string>();
    if (!out.has(b)) out.set(b, `${i.from} imports ${i.to}`);
    graph.set(a, out);
  }
  return graph;
}

/** The shortest path from `start` back to itself (breadth first), or null when there is none. */
function shortestCycle(graph: Map<string, Map<string, string>>, start: string): string[] | null {
  const previous = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    for (const next of graph.get(node)?.keys() ?? []) {
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0]!)!);
        return [...path, start];
      }
      if (previous.has(next) || next === start) continue;
      previous.set(next, node);
      queue.push(next);
    }
  }
  return null;
}

/** One line per distinct cycle (the shortest through each folder), each edge with the file that makes it. */
function cycles(graph: Map<string, Map<string, string>>): string[] {
  const seen = new Set<string>();
  const found: string[] = [];
  for (const start of [...graph.keys()].sort()) {
    const cycle = shortestCycle(graph, start);
    if (cycle === null) continue;
    const key = [...cycle.slice(1)].sort().join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    const edges = cycle.slice(1).map((to, n) => `    ${cycle[n]} -> ${to}: ${graph.get(cycle[n]!)!.get(to)}`);
    found.push([cycle.join(' -> '), ...edges].join('\n'));
  }
  return found;
}

/** The imports of every file reachable from the given folders' files, those files included. */
function reachableFrom(imports: Import[], folders: string[]): Import[] {
  const byFile = new Map<string, Import[]>();
  for (const i of imports) byFile.set(i.from, [...(byFile.get(i.from) ?? []), i]);
  const seen = new Set([...byFile.keys()].filter((f) => folders.includes(folderOf(f))));
  const queue = [...seen];
  for (let head = 0; head < queue.length; head++) {
    for (const i of byFile.get(queue[head]!) ?? []) {
      if (i.to !== null && !seen.has(i.to)) {
        seen.add(i.to);
        queue.push(i.to);
      }
    }
  }
  return imports.filter((i) => seen.has(i.from));
}

describe('architecture', () => {
  it('counts type-only imports and import() too, resolved to the .ts file', () => {
    const has = (from: string, to: string) => allImports.some((i) => i.from === from && i.to === to);
    expect(allImports.length).toBeGreaterThan(500);
    expect(has('payserv/context.ts', 'chains/driver.ts')).toBe(true); // import type { Drivers }
    expect(has('cli/pscli.ts', 'cli/pscli/db.ts')).toBe(true); // await import('./pscli/db.js')
    expect(allImports.filter((i) => i.to !== null && !i.to.endsWith('.ts') && !i.to.endsWith('.json'))).toEqual([]);
  });

  it('reports a cycle with the file behind each edge', () => {
    const made: Import[] = [
      { from: 'a/x.ts', specifier: '../b/y.js', to: 'b/y.ts' },
      { from: 'b/y.ts', specifier: '../a/z.js', to: 'a/z.ts' },
    ];
    expect(cycles(folderGraph(made))).toEqual(['a -> b -> a\n    a -> b: a/x.ts imports b/y.ts\n    b -> a: b/y.ts imports a/z.ts']);
  });

  it('has no cycle between the top-level folders of src/', () => {
    expect(cycles(folderGraph(allImports)).join('\n')).toBe('');
  });

  it('keeps money and ledger free of I/O: nothing they reach imports a node: module but node:crypto, or a database', () => {
    const impure = reachableFrom(allImports, PURE).filter(
      (i) =>
        (i.specifier.startsWith('node:') && !PURE_NODE_MODULES.includes(i.specifier)) ||
        DATABASE_PACKAGES.includes(i.specifier) ||
        (i.to !== null && DATABASE.includes(folderOf(i.to))),
    );
    expect(impure.map((i) => `${i.from} imports ${i.specifier}`)).toEqual([]);
  });

  it('keeps the chain drivers off the database: nothing under src/chains imports src/data, src/db or a database package', () => {
    // They are given their storage (src/chains/storage.ts); the SQL behind it is src/data's.
    const reaching = allImports.filter(
      (i) =>
        folderOf(i.from) === 'chains' &&
        (DATABASE_PACKAGES.includes(i.specifier) || (i.to !== null && ['data', 'db'].includes(folderOf(i.to)))),
    );
    expect(allImports.some((i) => folderOf(i.from) === 'chains' && i.to === 'chains/storage.ts')).toBe(true);
    expect(reaching.map((i) => `${i.from} imports ${i.specifier}`)).toEqual([]);
  });

  it('lets only devnet, demo and cli import src/devnet', () => {
    const users = allImports.filter((i) => i.to?.startsWith('devnet/') && !DEVNET_USERS.includes(folderOf(i.from)));
    expect(users.map((i) => `${i.from} imports ${i.to}`)).toEqual([]);
  });

  it("lists every folder of src/ in the README's Layout table", () => {
    const readme = readFileSync(resolve(SRC, '../README.md'), 'utf8');
    const layout = readme.slice(readme.indexOf('## Layout'), readme.indexOf('\n## ', readme.indexOf('## Layout') + 1));
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(folders.filter((f) => !layout.includes(`\`src/${f}\``))).toEqual([]);
  });
});
