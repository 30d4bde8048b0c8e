// payserv's [metrics] table: off unless listen is given; listen as host:port (IPv6 in brackets); a bad value
// stops payserv at start naming the key.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { tmpStateDir } from '../support/tmp.js';

async function load(text: string) {
  const dir = await tmpStateDir();
  const file = join(dir, 'payserv.toml');
  await writeFile(file, text);
  return { file, config: () => loadConfig('payserv', file, { env: {} }) };
}

describe('[metrics]', () => {
  it('is off by default: no listener, a 5 s scrape bound', async () => {
    const { config } = await load('');
    expect((await config()).metrics).toEqual({ listen: undefined, scrape_timeout_ms: 5_000 });
  });

  it.each([
    ['127.0.0.1:9446', { host: '127.0.0.1', port: 9446 }],
    ['[::1]:9446', { host: '::1', port: 9446 }],
    ['monitor.internal:0', { host: 'monitor.internal', port: 0 }],
  ])('listen = %j is where it binds', async (listen, expected) => {
    const { config } = await load(`[metrics]\nlisten = "${listen}"\nscrape_timeout_ms = 2000\n`);
    expect((await config()).metrics).toEqual({ listen: expected, scrape_timeout_ms: 2_000 });
  });

  it.each([
    ['listen = "9446"', 'metrics.listen: expected host:port'],
    ['listen = "127.0.0.1:65536"', 'metrics.listen: expected host:port'],
    ['listen = "::1:9446"', 'metrics.listen: expected host:port'],
    ['listen = "http://127.0.0.1:9446"', 'metrics.listen: expected host:port'],
    ['listen = 9446', 'metrics.listen: expected a string'],
    ['scrape_timeout_ms = 0', 'metrics.scrape_timeout_ms: expected a positive integer'],
    ['scrape_timeout_ms = 120000', 'metrics.scrape_timeout_ms: at most 60000'],
    ['enabled = true', 'unknown key "metrics.enabled"'],
  ])('refuses %s, naming the key', async (line, expected) => {
    const { file, config } = await load(`[metrics]\n${line}\n`);
    const e = await config().then(
      () => expect.fail('expected a ConfigError'),
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toContain(`config ${file}: ${expected}`);
  });
});
