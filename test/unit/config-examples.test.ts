// The example configurations in config/ document every key the schema has, and parse with it (issue 15, item 10).
import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { fileSchema, type Service } from '../../src/config/schema.js';

/** Every key path of a schema, a record's keys written `*` (a commented example names some tag). */
function keyPaths(schema: z.core.$ZodType, prefix = ''): string[] {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
      return keyPaths(def.innerType as z.core.$ZodType, prefix);
    case 'object':
      return Object.entries(def.shape as Record<string, z.core.$ZodType>).flatMap(([k, v]) => {
        const path = prefix ? `${prefix}.${k}` : k;
        const inner = keyPaths(v, path);
        return inner.length ? inner : [path];
      });
    case 'record':
      return keyPaths(def.valueType as z.core.$ZodType, `${prefix}.*`);
    case 'union':
      return [...new Set((def.options as z.core.$ZodType[]).flatMap((o) => keyPaths(o, prefix)))];
    default:
      return [];
  }
}

/** The file with its commented-out settings (`# key = …`, `# [table]`) switched on, as an operator would. */
function uncommented(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^#\s?(?=\[[a-z]|[a-z][a-z0-9_]*\s*=)/, ''))
    .join('\n');
}

function present(doc: unknown, path: string[]): boolean {
  if (!path.length) return true;
  if (doc === null || typeof doc !== 'object') return false;
  const [head, ...rest] = path;
  const values = head === '*' ? Object.values(doc) : head! in doc ? [(doc as Record<string, unknown>)[head!]] : [];
  return values.some((v) => present(v, rest));
}

describe('example configurations', () => {
  it.each(['payserv', 'pscli', 'dbgw', 'intake'] satisfies Service[])(
    'config/%s.toml documents every key and parses with the schema, as shipped and uncommented',
    (service) => {
      const text = readFileSync(new URL(`../../config/${service}.toml`, import.meta.url), 'utf8');
      const schema = fileSchema(service);
      expect(schema.safeParse(parse(text)).error).toBeUndefined();
      const full = parse(uncommented(text));
      expect(schema.safeParse(full).error).toBeUndefined();
      const missing = keyPaths(schema).filter((p) => !present(full, p.split('.')));
      expect(missing).toEqual([]);
    },
  );
});
