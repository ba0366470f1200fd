/**
 * `npm run playground` (playground/serve.ts run as a program): the port comes
 * from PORT (default 5173, checked through resolvePort without listening on
 * it), the URL is printed on start, and the page is served from it. The
 * server runs as a child process started from the package.json script's own
 * command line, on a free loopback port, and is ended by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_PORT, resolvePort } from '../../playground/serve.js';

const test = suite('playground server');
const root = new URL('../..', import.meta.url).pathname;

/** A port that was free a moment ago: listen on 0, note the port, close. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** The `playground` script of package.json, as a command for spawn (node → this Node binary). */
function playgroundCommand(): { file: string; args: string[] } {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
    scripts: Record<string, string>;
  };
  const words = pkg.scripts.playground!.split(/\s+/);
  assert.is(words[0], 'node', `npm run playground runs: ${pkg.scripts.playground}`);
  return { file: process.execPath, args: words.slice(1) };
}

/** Resolves with the first stdout match of `pattern`; rejects on exit or after `ms`. */
function waitForLine(child: ChildProcess, pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const done = (fn: () => void) => {
      clearTimeout(timer);
      child.stdout!.off('data', onOut);
      child.stderr!.off('data', onErr);
      child.off('exit', onExit);
      fn();
    };
    const onOut = (chunk: Buffer) => {
      out += chunk.toString();
      const m = out.match(pattern);
      if (m) done(() => resolve(m));
    };
    const onErr = (chunk: Buffer) => (err += chunk.toString());
    const onExit = (code: number | null) =>
      done(() => reject(new Error(`exited (${code}) before ${pattern}:\n${out}\n${err}`)));
    const timer = setTimeout(
      () => done(() => reject(new Error(`no ${pattern} within ${ms} ms:\n${out}\n${err}`))),
      ms,
    );
    child.stdout!.on('data', onOut);
    child.stderr!.on('data', onErr);
    child.on('exit', onExit);
  });
}

/** Ends the child by its PID and waits (bounded) for it to exit. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  process.kill(child.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((done) => (timer = setTimeout(() => done('late'), 10_000)));
  if ((await Promise.race([exited, late])) === 'late' && child.exitCode === null)
    process.kill(child.pid, 'SIGKILL');
  clearTimeout(timer);
}

test('the port: 5173 by default, PORT when set, 0 for any free one; bad values refused', () => {
  assert.is(DEFAULT_PORT, 5173);
  assert.is(resolvePort({}), 5173);
  assert.is(resolvePort({ PORT: '8080' }), 8080);
  assert.is(resolvePort({ PORT: '0' }), 0);
  assert.is(resolvePort({ PORT: '65535' }), 65535);
  for (const bad of ['', 'x', '-1', '65536', '80.5', ' 80'])
    assert.throws(() => resolvePort({ PORT: bad }), /PORT must be an integer/, `PORT='${bad}'`);
});

test('npm run playground with PORT: prints the URL and serves the page there', async () => {
  const port = await freePort();
  const { file, args } = playgroundCommand();
  const child = spawn(file, args, {
    cwd: root,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const m = await waitForLine(child, /lwip-wasm playground: (http:\/\/\S+)/, 120_000);
    const url = m[1]!;
    assert.is(url, `http://127.0.0.1:${port}/`);
    const res = await fetch(url);
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', 'text/html');
    const html = await res.text();
    assert.match(html, '<select id="speed"');
    assert.match(html, 'id="conns"');
    // The app script the page loads is served too.
    const src = html.match(/<script[^>]*src="([^"]+)"/)?.[1];
    assert.ok(src, 'the page loads a script');
    const js = await fetch(new URL(src!, url));
    assert.is(js.status, 200);
    assert.ok((await js.text()).length > 10_000, 'the bundled app');
  } finally {
    await stop(child);
  }
  assert.ok(child.exitCode !== null || child.signalCode !== null, 'the server ended');
});

test('a bad PORT: exit code 1 with the reason, before building or listening', async () => {
  const { file, args } = playgroundCommand();
  const child = spawn(file, args, {
    cwd: root,
    env: { ...process.env, PORT: 'eighty' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  try {
    const code = await new Promise<number | null>((done, fail) => {
      const timer = setTimeout(() => fail(new Error('still running after 60 s')), 60_000);
      child.once('exit', (c) => (clearTimeout(timer), done(c)));
    });
    assert.is(code, 1);
    assert.match(err, "PORT must be an integer in 0..65535, got 'eighty'");
  } finally {
    await stop(child);
  }
});

test.run();
