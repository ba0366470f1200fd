/**
 * `lwip-wasm proxy` as a program: started as a child process (ended by
 * PID) with --netns given as a path, it configures the namespace (address,
 * MTU, default routes via the gateway), relays a kernel client's flow to a
 * loopback server, and on SIGTERM ends the flow in order (FIN both ways),
 * prints its summary, removes its device and exits 0.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { testUnless } from '../helpers/skip.js';
import { cleanup, drain, loopbackServer, track } from '../proxy/helpers.js';
import {
  GW4,
  GW6,
  Namespace,
  NS_ADDRESSES,
  finish,
  kernelReason,
  lineStarting,
  removeStaleNamespaces,
  repoRoot,
  resultOf,
} from './kernel.js';

const test = suite('proxy command line against the kernel');
test.after.each(cleanup);

if (kernelReason === undefined) removeStaleNamespaces();

testUnless(
  test,
  kernelReason,
  'configures the namespace, relays, and shuts down cleanly on SIGTERM',
  async () => {
    const ns = new Namespace();
    track(() => ns.delete());
    const nsPath = existsSync(`/run/netns/${ns.name}`) ? `/run/netns/${ns.name}` : ns.name;
    const cli = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'test/proxy-kernel/cli.ts',
        '--netns',
        nsPath,
        '--tun',
        ns.device,
        ...NS_ADDRESSES.flatMap((a) => ['--address', a]),
        '--mtu',
        '9000',
        '--map',
        `${GW4}=127.0.0.1`,
        '--allow',
        `${GW4}/32`,
        '--shutdown-timeout',
        '5',
        // A slack below the default: collections run alongside the flows below.
        '--heap-slack',
        '1',
        '--verbose',
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    track(() => {
      if (cli.pid !== undefined && cli.exitCode === null && cli.signalCode === null)
        process.kill(cli.pid, 'SIGKILL');
    });
    const exited = finish(cli, 'lwip-wasm proxy', 60_000);
    const ready = await lineStarting(cli, 'proxy ready:');
    assert.match(ready, `tun ${ns.device} in netns ${nsPath}`);
    assert.match(ready, `via gateway ${GW4} ${GW6}`);

    // The namespace's side of the link.
    assert.match(
      ns.ip('-4', 'route', 'show', 'default').out,
      `default via ${GW4} dev ${ns.device}`,
    );
    assert.match(
      ns.ip('-6', 'route', 'show', 'default').out,
      `default via ${GW6} dev ${ns.device}`,
    );
    assert.match(ns.ip('addr', 'show', 'dev', ns.device).out, 'inet 10.0.2.100/24');
    assert.match(ns.ip('link', 'show', 'dev', ns.device).out, 'mtu 9000');

    // A flow that stays open until the proxy ends it.
    const server = await loopbackServer((s) => s.on('end', () => s.end()));
    const upstream = server.nextSocket().then(drain);
    const client = ns.client(['hold', GW4, String(server.port)]);
    const clientDone = finish(client, 'hold', 30_000);
    // Watched from before the client connects: the proxy may print it first.
    const opened = lineStarting(cli, 'open  10.0.2.100:', 10_000, 'stderr');
    await lineStarting(client, 'connected');
    await opened;
    process.kill(cli.pid!, 'SIGTERM');
    const r = await exited;
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, 'proxy: stopping (SIGTERM)');
    assert.match(r.stdout, /proxy: 1 flows in [\d.]+ s/);
    assert.match(r.stderr, /close 10\.0\.2\.100:\d+ -> 10\.0\.2\.1:\d+: closed/);
    assert.equal(resultOf(await clientDone), { eof: true }, 'the kernel client saw a FIN');
    assert.ok((await upstream).ended, 'the upstream saw a FIN');
    assert.is.not(ns.ip('link', 'show', 'dev', ns.device).status, 0, 'the device is gone');
    ns.delete();
    assert.not.ok(ns.exists(), 'the namespace is gone');
  },
);

testUnless(
  test,
  kernelReason,
  'a given gateway is routed through; a deleted namespace stops the proxy with exit 1',
  async () => {
    const ns = new Namespace();
    track(() => ns.delete());
    const cli = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'test/proxy-kernel/cli.ts',
        '--netns',
        ns.name,
        '--tun',
        ns.device,
        ...NS_ADDRESSES.flatMap((a) => ['--address', a]),
        '--gateway',
        '10.0.2.5',
        '--allow',
        '10.0.2.5/32',
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    track(() => {
      if (cli.pid !== undefined && cli.exitCode === null && cli.signalCode === null)
        process.kill(cli.pid, 'SIGKILL');
    });
    const exited = finish(cli, 'lwip-wasm proxy', 60_000);
    assert.match(await lineStarting(cli, 'proxy ready:'), `via gateway 10.0.2.5 ${GW6}`);
    assert.match(
      ns.ip('-4', 'route', 'show', 'default').out,
      `default via 10.0.2.5 dev ${ns.device}`,
    );
    assert.match(
      ns.ip('-6', 'route', 'show', 'default').out,
      `default via ${GW6} dev ${ns.device}`,
    );
    ns.delete();
    const r = await exited;
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, 'proxy: stopping (device failed:');
  },
);

test.run();
