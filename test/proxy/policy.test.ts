/**
 * Policy rules, one per test: maps rewrite the address and keep the port,
 * deny wins over allow, an allow list shuts out everything else, rules see
 * the address the client dialled, and bad rules are errors naming the entry.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Policy } from '../../src/proxy/index.js';

const test = suite('proxy policy');

test('no rules: every destination is dialled as is', () => {
  const p = new Policy();
  assert.equal(p.decide('198.51.100.7', 443), {
    action: 'dial',
    host: '198.51.100.7',
    port: 443,
    mapped: false,
  });
  assert.equal(p.decide('2001:db8:0:0::7', 80), {
    action: 'dial',
    host: '2001:db8::7',
    port: 80,
    mapped: false,
  });
});

test('map: VIRTUAL=REAL rewrites the address, keeps the port, may change the family', () => {
  const p = new Policy({ map: ['10.0.2.2=127.0.0.1', 'fd00:2::2 = ::1', 'fd00:2::3=127.0.0.1'] });
  assert.equal(p.decide('10.0.2.2', 8080), {
    action: 'dial',
    host: '127.0.0.1',
    port: 8080,
    mapped: true,
  });
  assert.equal(p.decide('fd00:2:0::2', 22), {
    action: 'dial',
    host: '::1',
    port: 22,
    mapped: true,
  });
  assert.equal(p.decide('fd00:2::3', 1), {
    action: 'dial',
    host: '127.0.0.1',
    port: 1,
    mapped: true,
  });
  assert.is(p.decide('10.0.2.3', 80).action, 'dial');
  assert.equal(p.describe().map, ['10.0.2.2=127.0.0.1', 'fd00:2::2=::1', 'fd00:2::3=127.0.0.1']);
});

test('deny wins over allow; an allow list shuts out the rest', () => {
  const p = new Policy({ allow: ['10.0.0.0/8', 'fd00::/8'], deny: ['10.9.0.0/16'] });
  assert.is(p.decide('10.1.2.3', 80).action, 'dial');
  assert.is(p.decide('fd12::1', 80).action, 'dial');
  assert.equal(p.decide('10.9.1.1', 80), { action: 'deny', rule: 'deny 10.9.0.0/16' });
  assert.equal(p.decide('192.0.2.1', 80), { action: 'deny', rule: 'not in the allow list' });
  assert.equal(p.decide('2001:db8::1', 80), { action: 'deny', rule: 'not in the allow list' });
});

test('rules see the dialled address, before mapping', () => {
  const p = new Policy({ map: ['10.0.2.2=127.0.0.1'], deny: ['127.0.0.0/8'] });
  assert.equal(p.decide('10.0.2.2', 80), {
    action: 'dial',
    host: '127.0.0.1',
    port: 80,
    mapped: true,
  });
  const q = new Policy({ map: ['10.0.2.2=127.0.0.1'], deny: ['10.0.2.2/32'] });
  assert.is(q.decide('10.0.2.2', 80).action, 'deny');
});

test('bad rules are errors that name the entry', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return `${(e as { code: string }).code}: ${(e as Error).message}`;
    }
    return 'no error';
  };
  assert.match(
    code(() => new Policy({ map: ['10.0.2.2'] })),
    /ERR_INVALID_ARGUMENT.*VIRTUAL=REAL/,
  );
  assert.match(
    code(() => new Policy({ map: ['10.0.2.2=localhost'] })),
    /not an IP address/,
  );
  assert.match(
    code(() => new Policy({ map: ['1.1.1.1=2.2.2.2', '1.1.1.1=3.3.3.3'] })),
    /more than once/,
  );
  assert.match(
    code(() => new Policy({ allow: ['10.0.0.0/33'] })),
    /bad prefix length/,
  );
  assert.match(
    code(() => new Policy({ deny: ['10.0.0/8'] })),
    /not an IP address/,
  );
  assert.match(
    code(() => new Policy({ deny: '10.0.0.0/8' as never })),
    /array of strings/,
  );
});

test.run();
