/**
 * `lwip-wasm demo`: the main job on an in-memory network, no root needed.
 * Two stacks on a memory link under the real clock: an echo exchange, then a
 * bulk transfer with a progress line, its throughput, and both stacks' stats.
 */
import { createHash } from 'node:crypto';
import { Stack, linkInterfaces, type TcpConnection } from '../index.js';
import { parseArgs } from './args.js';

const MiB = 1 << 20;

function progressLine(text: string): void {
  if (process.stdout.isTTY) process.stdout.write(`\r${text}\x1b[K`);
}

export async function runDemo(args: string[]): Promise<number> {
  const { options } = parseArgs(args, { mib: { type: 'number' }, mtu: { type: 'number' } });
  const mib = (options.mib as number | undefined) ?? 256;
  const mtu = (options.mtu as number | undefined) ?? 65535;
  const client = await Stack.create({ seed: 1 });
  const server = await Stack.create({ seed: 2 });
  const ic = client.addInterface({ ipv4: '10.0.0.1/24', ipv6: 'fd00::1/64', mtu });
  const is = server.addInterface({ ipv4: '10.0.0.2/24', ipv6: 'fd00::2/64', mtu });
  linkInterfaces(ic, is);
  console.log(`two stacks linked in memory (MTU ${mtu}): 10.0.0.1/fd00::1 <-> 10.0.0.2/fd00::2`);

  // 1. Echo on port 7, over IPv6.
  server.listen({ port: 7 }, (c) => {
    c.markActive();
    c.on('readable', (d) => c.write(d));
    c.on('readEOF', () => c.gracefulClose());
  });
  const echoed = await new Promise<string>((resolve, reject) => {
    const c = client.connect({ address: 'fd00::2', port: 7 });
    let text = '';
    c.on('becameActive', () => {
      c.write(new TextEncoder().encode('hello through lwIP in WebAssembly'));
      c.shutdownWrite();
    });
    c.on('readable', (d) => (text += new TextDecoder().decode(d)));
    c.on('terminated', (_r, e) => (e ? reject(e) : resolve(text)));
  });
  console.log(`echo [fd00::1]:port -> [fd00::2]:7: "${echoed}"`);

  // 2. Bulk transfer on port 9: the server counts and hashes what arrives.
  const total = mib * MiB;
  const received = new Promise<{ bytes: number; digest: string }>((resolve) => {
    server.listen({ port: 9 }, (c) => {
      const hash = createHash('sha256');
      let bytes = 0;
      c.markActive();
      c.on('readable', (d) => {
        bytes += d.length;
        hash.update(d);
      });
      c.on('readEOF', () => {
        c.gracefulClose();
        resolve({ bytes, digest: hash.digest('hex') });
      });
    });
  });
  const chunk = new Uint8Array(MiB);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
  const sent = createHash('sha256');
  const started = performance.now();
  const c: TcpConnection = client.connect({ address: '10.0.0.2', port: 9 });
  await new Promise<void>((resolve, reject) => {
    let queued = 0;
    let offset = 0;
    let lastPrint = 0;
    const pump = () => {
      while (queued < total) {
        const n = c.write(chunk.subarray(offset));
        if (n === 0) break;
        sent.update(chunk.subarray(offset, offset + n));
        offset = (offset + n) % chunk.length;
        queued += n;
      }
      const now = performance.now();
      if (now - lastPrint > 200) {
        lastPrint = now;
        progressLine(`bulk: ${(queued / MiB).toFixed(0)} / ${mib} MiB queued`);
      }
      if (queued >= total) {
        c.off('writable', pump);
        c.shutdownWrite();
        resolve();
      }
    };
    c.on('becameActive', pump);
    c.on('writable', pump);
    c.on('terminated', (_r, e) => e && reject(e));
  });
  const result = await received;
  const seconds = (performance.now() - started) / 1000;
  progressLine('');
  const ok = result.bytes === total && result.digest === sent.digest('hex');
  console.log(
    `bulk: ${mib} MiB in ${seconds.toFixed(2)} s = ${((total * 8) / seconds / 1e9).toFixed(2)} Gbit/s, sha256 ${ok ? 'matches' : 'MISMATCH'}`,
  );
  await new Promise((r) => setTimeout(r, 50));
  const show = (name: string, s: Stack) => {
    const st = s.stats();
    console.log(
      `${name}: tcp ${JSON.stringify(st.tcp)} handles ${st.handles} heap ${st.heap.lwipBytes} B (peak ${st.heap.lwipPeak} B) memory ${(st.heap.memoryBytes / MiB).toFixed(1)} MiB packets in ${st.packets.in} out ${st.packets.out}`,
    );
  };
  show('client', client);
  show('server', server);
  client.close();
  server.close();
  return ok ? 0 : 1;
}
