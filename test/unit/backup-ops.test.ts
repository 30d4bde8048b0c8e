// The backup's page operations (src/data/ops/backup.ts): keyset on the primary key, never OFFSET or ctid.
import { describe, expect, it } from 'vitest';
import { CATALOG } from '../../src/data/catalog.js';
import { BACKUP_KEYS, BACKUP_PAGES, BACKUP_TABLES } from '../../src/data/ops/backup.js';

describe('backup page operations', () => {
  it('page each table by keyset on its key: a row comparison after the last key, ordered by it, bounded', () => {
    for (const t of BACKUP_TABLES) {
      const { first, after } = BACKUP_PAGES[t];
      const cols = BACKUP_KEYS[t].map(([c]) => c).join(', ');
      for (const o of [first, after]) {
        expect(o.sql).not.toMatch(/OFFSET|ctid/i);
        expect(o.sql).toContain(`ORDER BY ${cols} LIMIT $`);
        expect(o.readOnly).toBe(true);
        expect(CATALOG.get(o.name)).toBe(o);
      }
      expect(first.arity).toBe(1);
      expect(after.arity).toBe(BACKUP_KEYS[t].length + 1);
      expect(after.sql).toContain(`WHERE (${cols}) > (${BACKUP_KEYS[t].map(([, ty], i) => `$${i + 1}::${ty}`).join(', ')})`);
    }
  });
});
