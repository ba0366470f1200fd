/**
 * The ABI's argument checks in the real WebAssembly module (issue 6 §1):
 * every export that takes a pointer rejects one outside the heap (below
 * __heap_base, past the end of memory, or wrapping around) with
 * LW_ERR_BADARG, bad lengths and stale handles get their error codes, and
 * none of it changes state: the instance still works afterwards and its
 * heap figures are unchanged. The native fuzzer (test/fuzz) checks the same
 * promises in a build where pointers are not range-checked, so this is the
 * test of the checks themselves.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LwErr, LwStat, type LwSink } from '../../src/wasm/abi.js';
import { loadModule } from '../../src/wasm/loader.js';
import { LwipRuntime } from '../../src/wasm/runtime.js';

const BADARG = -103;
const STALE = -100;

const test = suite('ABI argument checks (WebAssembly)');

async function instance() {
  const events: number[][] = [];
  const fatal: string[] = [];
  const sink: LwSink = {
    event: (kind, handle, a, b) => events.push([kind, handle, a, b]),
    recv: () => {},
    output: () => {},
    fatal: (m) => fatal.push(m),
    now: () => 0,
  };
  const rt = await LwipRuntime.create(await loadModule(), sink);
  const x = rt.exports;
  assert.is(x.lw_init(1, 2, 0), 0, 'lw_init');
  const stats = x.lw_buf_alloc(LwStat.WORDS * 4);
  assert.ok(stats > 0, 'a stats buffer');
  const heapBytes = () => {
    assert.is(x.lw_stats(stats), 0);
    return rt.u32()[(stats >>> 2) + LwStat.HEAP_BYTES]!;
  };
  return { rt, x, events, fatal, stats, heapBytes };
}

test('pointers outside the heap are refused with LW_ERR_BADARG and change nothing', async () => {
  const { rt, x, fatal, heapBytes } = await instance();
  const netif = x.lw_netif_add(0x0100000a, 24, 0, 0, 1500);
  assert.ok(netif >= 0, `lw_netif_add: ${netif}`);
  const before = heapBytes();
  const end = rt.exports.memory.buffer.byteLength;
  // Below __heap_base (static data and the C stack), past the end, wrapping.
  const bad = [8, 1024, end - 2, end + 4096, 0xfffffff0];
  for (const p of bad) {
    assert.is(x.lw_stats(p), BADARG, `lw_stats(${p})`);
    assert.is(x.lw_netif_input(netif, p, 40), BADARG, `lw_netif_input(${p})`);
    assert.is(x.lw_buf_free(p), BADARG, `lw_buf_free(${p})`);
    const h = x.lw_tcp_connect(4, p, 80, 0, 0);
    assert.is(h, BADARG, `lw_tcp_connect(addr ${p})`);
    assert.is(x.lw_tcp_listen(4, p, 80, 4, 0), BADARG, `lw_tcp_listen(addr ${p})`);
    assert.is(x.lw_input_reserve(p, p, 1), BADARG, `lw_input_reserve(${p})`);
  }
  assert.is(heapBytes(), before, 'lwIP heap unchanged');
  assert.equal(fatal, []);
  // Still a working instance: a listener and a connect from real buffers.
  const addr = x.lw_buf_alloc(16);
  rt.u8().set([10, 0, 0, 1], addr);
  const l = x.lw_tcp_listen(4, addr, 80, 4, 0);
  assert.ok(l > 0, `lw_tcp_listen after the bad calls: ${l}`);
  assert.is(x.lw_tcp_listener_close(l), 0);
  assert.is(x.lw_buf_free(addr), 0);
});

test('bad lengths, families and ports are refused or dropped and counted; stale handles get LW_ERR_STALE', async () => {
  const { rt, x, fatal, stats, heapBytes } = await instance();
  const netif = x.lw_netif_add(0x0100000a, 24, 0, 0, 1500);
  const buf = x.lw_buf_alloc(64);
  const before = heapBytes();
  assert.is(x.lw_netif_input(netif, buf, -1), BADARG, 'negative length');
  assert.is(x.lw_netif_input(netif, buf, 0x7fffffff), BADARG, 'past the end of memory');
  // Lengths inside memory but not an IP packet's are input that is dropped and counted.
  const dropped = () => {
    assert.is(x.lw_stats(stats), 0);
    return rt.u32()[(stats >>> 2) + LwStat.IN_DROPPED]!;
  };
  const d0 = dropped();
  assert.is(x.lw_netif_input(netif, buf, 0), 0, 'zero length');
  assert.is(x.lw_netif_input(netif, buf, 70_000), 0, 'longer than an IP packet');
  assert.is(dropped(), d0 + 2, 'both counted as dropped');
  assert.is(x.lw_tcp_connect(5, buf, 80, 0, 0), BADARG, 'family 5');
  assert.is(x.lw_tcp_connect(4, buf, 70_000, 0, 0), BADARG, 'port out of range');
  assert.is(x.lw_tcp_write(12345, buf, 10), STALE, 'write on a handle never issued');
  assert.is(x.lw_tcp_close(0), STALE, 'close of handle 0');
  assert.is(x.lw_tcp_abort(-7), STALE, 'abort of a negative handle');
  // A handle that was valid: its generation no longer matches once closed.
  const l = x.lw_tcp_listen(4, 0, 81, 4, 0);
  assert.ok(l > 0);
  assert.is(x.lw_tcp_listener_close(l), 0);
  assert.is(x.lw_tcp_listener_close(l), STALE, 'closed twice');
  assert.is(x.lw_tcp_mark_active(l), STALE, 'markActive on a closed listener');
  assert.is(heapBytes(), before, 'lwIP heap unchanged');
  assert.equal(fatal, []);
  assert.is(LwErr.MEM, -1); // lwIP's own codes pass through unchanged (abi.h)
});

test.run();
