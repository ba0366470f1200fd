/**
 * The kernel side of the TUN tests, run as a child process (usually inside
 * the test's network namespace via `ip netns exec`). Modes:
 *
 *   echo-client <host> <port> <bytes> <seed>  connect, send bytes(n, seed), half-close,
 *                                             print {"received":n,"sha256":...} of the echo
 *   serve <host> <port>                       print "listening", echo one connection, exit
 *   open-up <name>                            openTun({name, up, mtu 9000}) here, print the
 *                                             kernel's view of it before and after close()
 *   open-as <uid>                             load the addon, drop to uid/gid, try openTun,
 *                                             print the error's code and message
 *
 * Prints results as one JSON line; exits non-zero on failure.
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { openTun } from '../../src/tun/device.js';
import { loadTunAddon } from '../../src/tun/native.js';
import { bytes, concat, sha256 } from '../helpers/net.js';

const [mode, ...args] = process.argv.slice(2);

function fail(error: unknown): never {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
}

function sysfs(name: string, file: string): string | undefined {
  const path = `/sys/class/net/${name}/${file}`;
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

switch (mode) {
  case 'echo-client': {
    const [host, port, size, seed] = args;
    const data = bytes(Number(size), Number(seed));
    const chunks: Uint8Array[] = [];
    const socket = connect({ host: host!, port: Number(port) }, () => socket.end(data));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', fail);
    socket.on('close', () => {
      const got = concat(chunks);
      console.log(JSON.stringify({ received: got.length, sha256: sha256(got) }));
    });
    break;
  }
  case 'serve': {
    const [host, port] = args;
    const server = createServer((socket) => {
      socket.on('error', fail);
      socket.pipe(socket);
      socket.on('close', () => server.close());
    });
    server.on('error', fail);
    server.listen({ host: host!, port: Number(port) }, () => console.log('listening'));
    break;
  }
  case 'open-up': {
    const device = await openTun({ name: args[0]!, up: true, mtu: 9000 }).catch(fail);
    const flags = Number(sysfs(device.name, 'flags'));
    const before = { up: (flags & 1) === 1, mtu: Number(sysfs(device.name, 'mtu')) };
    device.close();
    console.log(
      JSON.stringify({ name: device.name, before, goneAfterClose: !sysfs(device.name, 'flags') }),
    );
    break;
  }
  case 'open-as': {
    await loadTunAddon().catch(fail);
    const id = Number(args[0]);
    process.setgid!(id);
    process.setuid!(id);
    try {
      (await openTun({})).close();
      console.log(JSON.stringify({ opened: true }));
    } catch (error) {
      const e = error as { code?: string; message?: string };
      console.log(JSON.stringify({ code: e.code, message: e.message }));
    }
    break;
  }
  default:
    fail(`unknown mode ${String(mode)}`);
}
