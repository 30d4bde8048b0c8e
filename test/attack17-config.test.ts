// Attack (issue 17), regression: [alerts] values that are wrong or would put a secret in the config are refused at start (no database needed).
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
  it('C1: refused at start, the key named: the bot token over plain http to a remote host; a password in webhook_url; CR/LF in from, to and chat_id', async () => {
    const cases: Array<[string, RegExp]> = [
      [
        '[alerts.telegram]\nchat_id = "-100"\ntoken_file = "t"\napi_url = "http://api.telegram.org"',
        /alerts\.telegram.*api_url.*must be https/s,
      ],
      ['[alerts]\nwebhook_url = "https://user:s3cret-pass@hooks.example/x"', /webhook_url.*carries a user or password/s],
      ['[alerts.email]\nhost = "smtp.example.com"\nfrom = "a@b.c\\r\\nBcc: evil@x.y"\nto = ["ops@x.y"]', /alerts\.email.*from.*one line/s],
      ['[alerts.email]\nhost = "smtp.example.com"\nfrom = "a@b.c"\nto = ["ops@x.y\\nBcc: evil@x.y"]', /alerts\.email.*to.*one line/s],
      ['[alerts.telegram]\nchat_id = "-100\\nx"\ntoken_file = "t"', /alerts\.telegram.*chat_id.*one line/s],
    ];
    for (const [toml, why] of cases) {
      const err = await load(toml).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, toml).not.toBeNull();
      expect(err!.message, toml).toMatch(why);
      expect(err!.message).not.toContain('s3cret-pass');
      console.log('C1 refused:', err!.message);
    }
  });

  it('C1b: still accepted: the Bot API over http on this host (tests, a local relay), a webhook URL without user info', async () => {
    await load('[alerts.telegram]\nchat_id = "-100"\ntoken_file = "t"\napi_url = "http://127.0.0.1:8081"');
    await load('[alerts.telegram]\nchat_id = "-100"\ntoken_file = "t"\napi_url = "http://[::1]:8081"');
    await load('[alerts]\nwebhook_url = "https://hooks.example/x?source=payserv"');
  });
});
