// Attack (issue 17): [alerts] values accepted at start that are wrong or leak a secret (no database needed).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';

async function load(toml: string) {
  const d = mkdtempSync(join(tmpdir(), 'att17cfg-'));
  writeFileSync(join(d, 't'), 'abcdefghij\n', { mode: 0o600 });
  writeFileSync(join(d, 'payserv.toml'), `${toml}\n`);
  return loadConfig('payserv', join(d, 'payserv.toml'), { env: { HOME: d }, stateDir: d });
}

describe('attack17 config', () => {
  it('C1: accepted, though each is wrong: the bot token over plain http to a remote host; a password in webhook_url; CR/LF in from, to and chat_id', async () => {
    const accepted: string[] = [];
    for (const toml of [
      '[alerts.telegram]\nchat_id = "-100"\ntoken_file = "t"\napi_url = "http://api.telegram.org"',
      '[alerts]\nwebhook_url = "https://user:s3cret-pass@hooks.example/x"',
      '[alerts.email]\nhost = "smtp.example.com"\nfrom = "a@b.c\\r\\nBcc: evil@x.y"\nto = ["ops@x.y"]',
      '[alerts.email]\nhost = "smtp.example.com"\nfrom = "a@b.c"\nto = ["ops@x.y\\nBcc: evil@x.y"]',
      '[alerts.telegram]\nchat_id = "-100\\nx"\ntoken_file = "t"',
    ]) {
      try {
        await load(toml);
        accepted.push(toml);
      } catch (e) {
        console.log('refused', (e as Error).message);
      }
    }
    console.log('C1 accepted:', accepted);
    expect(accepted).toHaveLength(5);
  });
});
