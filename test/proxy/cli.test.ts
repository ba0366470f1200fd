/**
 * The proxy command line without root: option parsing and its errors, the
 * gateway defaults, the status and summary lines, and the exit codes of
 * usage errors and --help (run as a child, as a user would).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import {
  dialerFor,
  formatBytes,
  parseProxyArgs,
  statusLine,
  summaryLine,
} from '../../src/cli/proxy.js';
import { defaultGateway } from '../../src/proxy/tun-config.js';
import type { ProxyStats } from '../../src/proxy/index.js';

const test = suite('proxy command line');
const root = new URL('../..', import.meta.url).pathname;

test('defaults', () => {
  const o = parseProxyArgs([]);
  assert.equal(o.addresses, ['10.0.2.100/24']);
  assert.is(o.gateways, undefined);
  assert.is(o.mtu, 1500);
  assert.is(o.upstream, 'direct');
  assert.is(o.netns, undefined);
  assert.is(o.maxFlows, 1024);
  assert.is(o.idleTimeoutMs, 0);
  assert.is(o.dialTimeoutMs, 10_000);
  assert.is(o.shutdownTimeoutMs, 3000);
  assert.is(o.heapSlack, 2 << 20, '2 MiB unless told otherwise');
  assert.equal([o.map, o.allow, o.deny], [[], [], []]);
});

test('every option, repeated ones collected', () => {
  const o = parseProxyArgs([
    '--tun=lwp0',
    '--address',
    '10.9.0.2/24',
    '--address',
    'fd09::2/64',
    '--gateway',
    '10.9.0.1',
    '--mtu',
    '65520',
    '--netns',
    '/proc/1/ns/net',
    '--upstream',
    'socks5://u:p@127.0.0.1:1080',
    '--map',
    '10.9.0.1=127.0.0.1',
    '--map',
    'fd09::1=::1',
    '--allow',
    '10.0.0.0/8',
    '--deny',
    '10.9.9.0/24',
    '--max-flows',
    '10',
    '--idle-timeout',
    '1.5',
    '--dial-timeout',
    '2',
    '--heap-slack',
    '0.5',
    '--verbose',
  ]);
  assert.is(o.tun, 'lwp0');
  assert.equal(o.addresses, ['10.9.0.2/24', 'fd09::2/64']);
  assert.equal(o.gateways, ['10.9.0.1']);
  assert.is(o.mtu, 65520);
  assert.is(o.netns, '/proc/1/ns/net');
  assert.equal(o.map, ['10.9.0.1=127.0.0.1', 'fd09::1=::1']);
  assert.equal([o.allow, o.deny], [['10.0.0.0/8'], ['10.9.9.0/24']]);
  assert.is(o.maxFlows, 10);
  assert.is(o.idleTimeoutMs, 1500);
  assert.is(o.dialTimeoutMs, 2000);
  assert.is(o.heapSlack, 512 << 10);
  assert.ok(o.verbose);
  assert.is(dialerFor(o.upstream).description, 'socks5 127.0.0.1:1080 (user/password)');
});

test('bad options are errors naming the option', () => {
  assert.throws(() => parseProxyArgs(['--bogus']), /unknown option --bogus/);
  assert.throws(() => parseProxyArgs(['--mtu', '100']), /--mtu/);
  assert.throws(() => parseProxyArgs(['--max-flows', '0']), /--max-flows/);
  assert.throws(() => parseProxyArgs(['--idle-timeout', '-1']), /--idle-timeout/);
  assert.throws(() => parseProxyArgs(['--heap-slack', '-1']), /--heap-slack/);
  assert.is(parseProxyArgs(['--heap-slack', '0']).heapSlack, 0, '0 turns it off');
  assert.throws(() => parseProxyArgs(['stray']), /unexpected argument 'stray'/);
  assert.throws(() => dialerFor('http://127.0.0.1:8080'), /--upstream must be/);
});

test('the gateway is the first host of the prefix, or the second when that is taken', () => {
  assert.is(defaultGateway('10.0.2.100/24'), '10.0.2.1');
  assert.is(defaultGateway('10.0.2.1/24'), '10.0.2.2');
  assert.is(defaultGateway('192.168.7.130/25'), '192.168.7.129');
  assert.is(defaultGateway('fd00:2::100/64'), 'fd00:2::1');
  assert.is(defaultGateway('fd00:2::1/64'), 'fd00:2::2');
  assert.is(defaultGateway('10.0.0.255/23'), '10.0.0.1');
  assert.throws(() => defaultGateway('10.0.0.1/31'), /no room/);
});

test('status and summary lines', () => {
  const zero: ProxyStats = {
    flowsActive: 0,
    flowsDialing: 0,
    flowsTotal: 0,
    bytesUp: 0,
    bytesDown: 0,
    refused: 0,
    dropped: 0,
    denied: 0,
    overLimit: 0,
    expired: 0,
    idleClosed: 0,
  };
  const now = {
    ...zero,
    flowsActive: 3,
    flowsDialing: 1,
    flowsTotal: 7,
    bytesUp: 1536,
    bytesDown: 2.5 * (1 << 20),
    refused: 2,
  };
  assert.is(
    statusLine(now, zero, 2),
    'flows 3 active (1 dialing), 7 total | up 1.5 KiB down 2.5 MiB | 0.0 / 10.5 Mbit/s | rejected 2',
  );
  assert.match(
    summaryLine(now, 4),
    /^proxy: 7 flows in 4\.0 s, up 1\.5 KiB, down 2\.5 MiB .* refused 2, dropped 0/,
  );
  assert.is(formatBytes(999), '999 B');
});

function cli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'test/proxy-kernel/cli.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('usage errors exit 2 with the usage; --help exits 0', () => {
  const bad = cli(['--upstream', 'ftp://x']);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, "lwip-wasm proxy: --upstream must be 'direct' or socks5://host:port");
  assert.match(bad.stderr, 'usage: lwip-wasm proxy [options]');
  const help = cli(['--help']);
  assert.is(help.status, 0);
  assert.match(help.stdout, '--map VIRTUAL=REAL');
});

test.run();
