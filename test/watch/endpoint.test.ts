/**
 * IpEndpoint: parsing, formatting, and configuration errors that name the
 * field (issue 3, sections 1 and 3).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StackError } from '../../src/index.js';
import {
  createTcpAcceptWatcher,
  createTcpConnectWatcher,
  createTcpConnectionWatcher,
  createTcpClient,
  endpointEquals,
  formatEndpoint,
  ipEndpoint,
  parseEndpoint,
} from '../../src/watch/index.js';
import { pair } from '../helpers/net.js';
import { streamPair } from './helpers.js';

const test = suite('endpoints and argument errors');

function configError(fn: () => unknown, field: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, StackError);
    const err = e as StackError;
    assert.is(err.kind, 'configuration', err.message);
    assert.is(err.code, 'ERR_INVALID_ARGUMENT');
    assert.is(err.errno, 22);
    assert.ok(err.message.includes(field), `"${err.message}" should name ${field}`);
    return;
  }
  assert.unreachable(`expected a configuration error naming ${field}`);
}

test('parseEndpoint reads IPv4 and bracketed IPv6 with a zone; port in host order', () => {
  const v4 = parseEndpoint('1.2.3.4:80');
  assert.is(v4.family, 'v4');
  assert.equal([...v4.ip], [1, 2, 3, 4]);
  assert.is(v4.port, 80);
  const v6 = parseEndpoint('[fd00::1%3]:8080');
  assert.is(v6.family, 'v6');
  if (v6.family !== 'v6') return;
  assert.is(v6.ip.length, 16);
  assert.is(v6.ip[0], 0xfd);
  assert.is(v6.ip[15], 1);
  assert.is(v6.scopeId, 3);
  assert.is(v6.port, 8080);
  assert.is(parseEndpoint('[::]:0').port, 0);
});

test('formatEndpoint is the inverse of parseEndpoint', () => {
  for (const text of ['1.2.3.4:80', '0.0.0.0:0', '[fd00::1]:443', '[fe80::1%3]:80', '[::]:65535'])
    assert.is(formatEndpoint(parseEndpoint(text)), text);
  assert.is(formatEndpoint(ipEndpoint('FD00:0:0::2', 9)), '[fd00::2]:9');
  assert.ok(endpointEquals(parseEndpoint('10.0.0.1:5'), ipEndpoint('10.0.0.1', 5)));
  assert.not.ok(endpointEquals(parseEndpoint('10.0.0.1:5'), ipEndpoint('10.0.0.1', 6)));
});

test('bad endpoint text and out-of-range ports throw configuration errors naming the field', () => {
  for (const text of [
    '1.2.3.4',
    '1.2.3.4:',
    '1.2.3.4:65536',
    '1.2.3:80',
    'fd00::1:80',
    '[fd00::1]80',
    '[1.2.3.4]:80',
    'x:1',
  ])
    configError(() => parseEndpoint(text, 'peer'), 'peer');
  configError(() => parseEndpoint(42 as unknown as string), 'endpoint');
  configError(() => ipEndpoint('10.0.0.1', 70000), 'port');
  configError(() => ipEndpoint('10.0.0.300', 1), 'address');
  configError(
    () => formatEndpoint({ family: 'v4', ip: new Uint8Array(16), port: 1 }),
    'endpoint.ip',
  );
});

test('watcher factories reject wrong option types and bad endpoints, naming the field', async () => {
  const p = await pair();
  const ok = () => {};
  const v4 = ipEndpoint('10.0.0.2', 80);
  configError(() => createTcpConnectWatcher(p.a, { ...v4, port: 0 }, {}, ok), 'remote.port');
  configError(
    () => createTcpConnectWatcher(p.a, v4, { tcpNoDelay: 'yes' as unknown as boolean }, ok),
    'option.tcpNoDelay',
  );
  configError(
    () => createTcpConnectWatcher(p.a, v4, { localBind: ipEndpoint('fd00::1', 0) }, ok),
    'option.localBind.family',
  );
  configError(() => createTcpConnectWatcher(p.a, v4, { localPort: 65536 }, ok), 'option.localPort');
  configError(
    () => createTcpAcceptWatcher(p.b, { localBind: v4, maxAcceptPerTick: 0 }, ok),
    'option.maxAcceptPerTick',
  );
  configError(
    () => createTcpAcceptWatcher(p.b, { localBind: v4, overflow: 'drop' as never }, ok),
    'option.overflow',
  );
  configError(
    () => createTcpAcceptWatcher(p.b, { localBind: { family: 'v4', ip: [1, 2] } as never }, ok),
    'option.localBind.ip',
  );
  configError(() => createTcpAcceptWatcher(p.b, undefined as never, ok), 'option');
  configError(
    () => createTcpClient(p.a, [v4], { connect: { keepAliveCount: 0 } }, ok),
    'option.connect.keepAliveCount',
  );
  configError(
    () => createTcpClient(p.a, [v4, ipEndpoint('fd00::2', 80)], { connect: { localBind: v4 } }, ok),
    'option.connect.localBind.family',
  );
  configError(
    () => createTcpClient(p.a, v4, { reconnect: { jitter: 2 } }, ok),
    'option.reconnect.jitter',
  );
  configError(() => createTcpClient(p.a, [], {}, ok), 'remote');
  const { client } = await streamPair(p);
  configError(
    () => createTcpConnectionWatcher(p.a, { maxReadBytesPerTick: 1.5 }, client, ok),
    'option.maxReadBytesPerTick',
  );
  configError(
    () => createTcpConnectionWatcher(p.a, { lingerSec: -1 }, client, ok),
    'option.lingerSec',
  );
  configError(() => createTcpConnectionWatcher(p.a, {}, client, 'x' as never), 'onRecv');
  assert.ok(client.owned, 'a rejected watcher leaves the stream its connection');
  p.close();
});

test.run();
