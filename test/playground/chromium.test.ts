/**
 * The playground in real Chromium (Debian's `chromium`, driven by
 * playwright-core over its executablePath): the page loads the same
 * lwip.wasm and library TypeScript as Node; a 256 KiB transfer over a 10%
 * lossy link completes with the right SHA-256 shown in the page and
 * retransmissions in the packet list and a chart per connection with bytes
 * in flight and windows (screenshot: test-output/playground.png); the speed
 * control scales virtual time; pause and step move virtual time as promised;
 * the connection flags (active, recvEnabled, writable) follow the
 * connection; the pcap download is a pcap file; and built-in scenarios
 * give the same packet-trace SHA-256 in Chromium as in this Node process
 * (determinism across engines).
 *
 * Prerequisites: /usr/bin/chromium and the playwright-core package. With
 * CI=true as root, a missing Chromium is installed with apt-get; otherwise
 * the tests skip with the reason. No browser or server outlives the file.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findScenario, runScenario } from '../../src/index.js';
import { buildPlayground } from '../../playground/build.js';
import { transferPayload } from '../../playground/src/payload.js';
import { startServer, type PlaygroundServer } from '../../playground/serve.js';
import { testUnless } from '../helpers/skip.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const root = new URL('../..', import.meta.url).pathname;
const screenshot = join(root, 'test-output', 'playground.png');
const TRANSFER_KIB = 256;

// The few playwright-core calls used here, typed locally so that type
// checking does not depend on the package being installed.
interface Page {
  on(event: 'pageerror', fn: (error: Error) => void): void;
  on(event: 'console', fn: (m: { type(): string; text(): string }) => void): void;
  goto(url: string): Promise<unknown>;
  waitForSelector(selector: string, options?: { timeout?: number }): Promise<unknown>;
  waitForFunction(fn: string, arg?: unknown, options?: { timeout?: number }): Promise<unknown>;
  selectOption(selector: string, value: string): Promise<unknown>;
  fill(selector: string, value: string): Promise<void>;
  click(selector: string): Promise<void>;
  getAttribute(selector: string, name: string): Promise<string | null>;
  textContent(selector: string): Promise<string | null>;
  locator(selector: string): { count(): Promise<number> };
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  evaluate<R>(fn: string): Promise<R>;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  waitForEvent(event: 'download'): Promise<{ path(): Promise<string | null> }>;
}
interface Context {
  pages(): Page[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface Playwright {
  chromium: {
    launchPersistentContext(
      dir: string,
      options: {
        executablePath: string;
        headless: boolean;
        args: string[];
        viewport: { width: number; height: number };
        acceptDownloads: boolean;
      },
    ): Promise<Context>;
  };
}

/** What the page's window.lwipPlayground.runScenario resolves to (playground/src/scenario.ts). */
interface PageScenarioResult {
  ok: boolean;
  problems: string[];
  hash: string;
  send: number;
  drop: number;
  deliver: number;
}

/** Installs Chromium when CI=true as root; returns why the tests cannot run, or undefined. */
function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const ci = process.env.CI === 'true' && process.getuid?.() === 0;
  if (!ci) return `${CHROMIUM} not found (apt-get install chromium; CI=true as root installs it)`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', 'chromium'], { env, encoding: 'utf8' });
  let r = install();
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { env, encoding: 'utf8' });
    r = install();
  }
  if (r.status !== 0 || !existsSync(CHROMIUM))
    throw new Error(`apt-get install chromium failed:\n${(r.stderr ?? '').slice(-2000)}`);
  return undefined;
}

async function loadPlaywright(): Promise<Playwright | string> {
  try {
    // A variable specifier: resolved at run time only (see the local types above).
    const name = 'playwright-core';
    return (await import(name)) as Playwright;
  } catch {
    return 'playwright-core is not installed (a devDependency; npm install)';
  }
}

const playwright = await loadPlaywright();
const reason = typeof playwright === 'string' ? playwright : chromiumMissing();

const test = suite('playground in Chromium');

let server: PlaygroundServer | undefined;
let context: Context | undefined;
let profile: string | undefined;
let page: Page;
const pageErrors: string[] = [];

test.before(async () => {
  if (reason !== undefined || typeof playwright === 'string') return;
  await buildPlayground();
  server = await startServer({ port: 0 });
  profile = mkdtempSync(join(tmpdir(), 'lwip-playground-chromium-'));
  context = await playwright.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1600, height: 1100 },
    acceptDownloads: true,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
  });
});

test.after(async () => {
  try {
    if (context) await Promise.race([context.close(), new Promise((r) => setTimeout(r, 10_000))]);
  } finally {
    if (profile) {
      killBrowsersUsing(profile);
      rmSync(profile, { recursive: true, force: true });
    }
    await server?.close();
  }
});

/** Ends, by PID, any Chromium process still running with our profile folder (a close that hung). */
function killBrowsersUsing(dir: string): void {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes(dir)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

/** Resolves after `n` animation frames in the page (time passes without a fixed sleep). */
function frames(n: number): Promise<unknown> {
  return page.evaluate(
    `new Promise((done) => { let left = ${n}; const next = () => (--left <= 0 ? done(0) : requestAnimationFrame(next)); requestAnimationFrame(next); })`,
  );
}

testUnless(test, reason, 'the page loads lwip.wasm and starts both stacks', async () => {
  await page.goto(server!.url);
  await page.waitForSelector('body[data-ready="true"], body[data-ready="error"]', {
    timeout: 60_000,
  });
  assert.is(await page.getAttribute('body', 'data-ready'), 'true', pageErrors.join('\n'));
  assert.match((await page.textContent('#log')) ?? '', 'stacks A 10.0.0.1 and B 10.0.0.2');
  assert.equal(pageErrors, []);
});

/** Virtual ms per real ms in the page over `n` animation frames (both clocks read in the page). */
function virtualRate(n: number): Promise<number> {
  return page.evaluate(
    `new Promise((done) => {
      const clock = window.lwipPlayground.app.clock;
      const r0 = performance.now();
      const v0 = clock.now();
      let left = ${n};
      const next = () => {
        if (--left > 0) return requestAnimationFrame(next);
        done((clock.now() - v0) / (performance.now() - r0));
      };
      requestAnimationFrame(next);
    })`,
  );
}

testUnless(test, reason, 'the speed control scales virtual time against real time', async () => {
  assert.is(await page.getAttribute('#play', 'data-running'), 'true');
  const shown = (min: number, max: number) =>
    page.waitForFunction(
      `(() => { const t = document.getElementById('vrate').textContent; const v = Number(t.slice(1)); return t.startsWith('x') && v >= ${min} && v <= ${max}; })()`,
      undefined,
      { timeout: 20_000 },
    );
  // Idle stacks: nothing slows the clock down, so the rate is the speed.
  await page.selectOption('#speed', '1');
  await shown(0.5, 1.5);
  const slow = await virtualRate(40);
  await page.selectOption('#speed', '10');
  await shown(5, 15);
  const fast = await virtualRate(40);
  await page.selectOption('#speed', '0.1');
  await shown(0.05, 0.15);
  const slowest = await virtualRate(40);
  // Ratios, not absolute times: the frame rate of a loaded machine cancels out.
  assert.ok(fast / slow > 5 && fast / slow < 20, `x10 ${fast} vs x1 ${slow}`);
  assert.ok(slow / slowest > 5 && slow / slowest < 20, `x1 ${slow} vs x0.1 ${slowest}`);
  await page.selectOption('#speed', '1');
  assert.equal(pageErrors, []);
});

testUnless(
  test,
  reason,
  'a bulk transfer over a 10% lossy link completes intact, retransmissions listed',
  async () => {
    await page.selectOption('#speed', '100');
    await page.fill('#loss', '10');
    await page.click('#apply-link');
    await page.fill('#bulk-kib', String(TRANSFER_KIB));
    await page.click('#bulk-transfer');
    await page.waitForSelector(
      'tr.transfer[data-state="completed"], tr.transfer[data-state="failed"]',
      {
        timeout: 120_000,
      },
    );
    const row = 'tr.transfer[data-id="1"]';
    assert.is(
      await page.getAttribute(row, 'data-state'),
      'completed',
      (await page.textContent(row)) ?? '',
    );

    // What the page sent and received, against the bytes recomputed here.
    const size = TRANSFER_KIB * 1024;
    const seed = Number(
      await page.evaluate(() => (document.getElementById('seed') as HTMLInputElement).value, 0),
    );
    const expected = createHash('sha256')
      .update(transferPayload(seed, 1, size))
      .digest('hex');
    assert.is(await page.getAttribute(row, 'data-size'), String(size));
    assert.is(await page.getAttribute(row, 'data-bytes'), String(size));
    assert.is(await page.getAttribute(row, 'data-sha256'), expected);
    assert.is(await page.getAttribute(row, 'data-received-sha256'), expected);

    // Both ends close cleanly through the loss.
    for (const conn of ['A#1', 'B#1'])
      await page.waitForSelector(`#conns tr[data-conn="${conn}"][data-state="TERMINATED"]`, {
        timeout: 60_000,
      });
    assert.match((await page.textContent('#conns tr[data-conn="A#1"]')) ?? '', '(close)');

    // The packet list: every packet of the transfer, a window of them in the page.
    const listed = Number(await page.getAttribute('#packets', 'data-rows'));
    const total = Number(await page.getAttribute('#packet-count', 'data-total'));
    assert.ok(listed > 100 && listed === total, `${listed} listed of ${total}`);
    const shown = await page.locator('#packets tbody tr.pkt:not([hidden])').count();
    assert.ok(shown > 5 && shown < listed, `${shown} rows in the page`);
    await page.selectOption('#packet-filter', 'retx');
    await page.waitForSelector('#packets tbody tr.pkt[data-retx="1"]');
    assert.is(
      await page.locator('#packets tbody tr.pkt:not([data-retx="1"])').count(),
      0,
      'only retransmissions',
    );
    await page.selectOption('#packet-filter', 'dropped');
    await page.waitForSelector('#packets tbody tr.pkt[data-status="dropped"]');
    assert.match((await page.textContent('#packets tbody tr.pkt')) ?? '', 'lost');
    await page.selectOption('#packet-filter', 'all');
    await page.click('#packet-follow'); // browse the whole list
    await page.evaluate(() => (document.getElementById('packets-scroll')!.scrollTop = 0), 0);
    await page.waitForSelector('#packets tbody tr.pkt[data-n="1"]');
    assert.match((await page.textContent('#packets tbody tr.pkt[data-n="1"]')) ?? '', 'Flags [S]');
    await page.click('#packet-follow');
    await page.waitForSelector(`#packets tbody tr.pkt[data-n="${total}"]`);
    assert.ok((await page.locator('#sequence g.packet').count()) > 0, 'sequence diagram arrows');

    // A chart per connection, each with its own samples: the sender (A#1)
    // had bytes in flight, bounded by the transfer and by the peer's window
    // (B keeps reading, so its window stays open); both ends saw open windows.
    const chart = (key: string) => `#charts canvas[data-conn="${key}"]`;
    const num = async (key: string, attr: string) =>
      Number(await page.getAttribute(chart(key), `data-${attr}`));
    for (const key of ['A#1', 'B#1']) {
      assert.is(await page.locator(chart(key)).count(), 1, `one chart for ${key}`);
      assert.ok((await num(key, 'samples')) >= 10, `${key}: ${await num(key, 'samples')} samples`);
      assert.ok((await num(key, 't1')) > (await num(key, 't0')), `${key}: samples over time`);
      assert.ok((await num(key, 'send-window-max')) > 0, `${key}: peer window`);
      assert.ok((await num(key, 'receive-window-max')) > 0, `${key}: our window`);
    }
    const inFlight = await num('A#1', 'in-flight-max');
    assert.ok(inFlight > 1460 && inFlight <= size, `A#1 in flight up to ${inFlight}`);
    assert.ok(inFlight <= (await num('A#1', 'send-window-max')), 'in flight within the window');
    assert.ok((await num('A#1', 'cwnd-max')) > 0, 'A#1 cwnd');
    assert.ok((await num('B#1', 'in-flight-max')) <= 1, 'B#1 sends no data (its FIN at most)');
    const canvases = await page.evaluate(
      () =>
        Array.from(
          document.querySelectorAll<HTMLCanvasElement>('#charts canvas'),
          (c) => c.dataset.conn,
        ),
      0,
    );
    assert.is(new Set(canvases).size, canvases.length, `distinct charts: ${canvases.join(' ')}`);

    await page.evaluate(() => window.scrollTo(0, 0), 0); // the time bar is sticky
    mkdirSync(join(root, 'test-output'), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.ok(existsSync(screenshot));
    assert.equal(pageErrors, []);
  },
);

testUnless(
  test,
  reason,
  'pause holds virtual time; step moves it to the next deadline',
  async () => {
    await page.click('#play');
    assert.is(await page.getAttribute('#play', 'data-running'), 'false');
    await page.click('#open-conn'); // a SYN on a 10 ms link: a deadline ahead
    await frames(3);
    const before = Number(await page.getAttribute('#vtime', 'data-ms'));
    await frames(10);
    assert.is(Number(await page.getAttribute('#vtime', 'data-ms')), before, 'paused');
    const next = await page.evaluate(
      () => window.lwipPlayground!.app.clock.nextDeadline() ?? -1,
      0,
    );
    assert.ok(next > before, `next deadline ${next} after ${before}`);
    await page.click('#step');
    await page.waitForFunction(
      `Number(document.getElementById('vtime').dataset.ms) === ${next}`,
      undefined,
      { timeout: 10_000 },
    );
    await page.click('#play');
    assert.is(await page.getAttribute('#play', 'data-running'), 'true');
    await page.waitForSelector('#conns tr[data-conn="A#2"][data-state="ESTABLISHED"]', {
      timeout: 30_000,
    });
  },
);

testUnless(
  test,
  reason,
  'connection controls: echo, pause/resume receiving, half-close, markActive, abort',
  async () => {
    const row = (key: string) => `#conns tr[data-conn="${key}"]`;
    const action = (key: string, name: string) =>
      page.click(`${row(key)} button[data-action="${name}"]`);
    const conn = (key: string, field: string) =>
      `window.lwipPlayground.app.conns.find((c) => c.key === '${key}')?.${field}`;
    await page.fill('#loss', '0');
    await page.click('#apply-link');

    // A#2 is the echo connection the previous test opened.
    await action('A#2', 'text');
    await page.waitForFunction(`(${conn('A#2', 'rxText')} ?? '').includes('hello from lwIP')`);

    // An idle open connection can be written to.
    const writable = (key: string) => `${row(key)} .badge[data-flag="writable"]`;
    for (const key of ['A#2', 'B#2'])
      assert.is(await page.getAttribute(writable(key), 'data-on'), 'true', `${key} writable`);

    // A stops reading: nothing more is delivered to it; lwIP keeps one
    // refused segment and drops the rest, so B's echo retransmits.
    const text = 'hello from lwIP\n'.length;
    await action('A#2', 'recv');
    await page.waitForSelector(`${row('A#2')} .badge[data-flag="recvEnabled"][data-on="false"]`);
    await page.fill('#bulk-kib', '2048');
    await action('A#2', 'bulk');
    await page.waitForFunction(`${conn('B#2', 'info.retransmissions')} > 0`, undefined, {
      timeout: 60_000,
    });
    assert.is(
      await page.evaluate<number>(conn('A#2', 'rxBytes')),
      text,
      'paused: nothing delivered',
    );
    // B's echo writes until its send queue is full (A does not read and
    // its window is closed): B is not writable while A's receiving is paused.
    await page.waitForSelector(`${writable('B#2')}[data-on="false"]`, { timeout: 60_000 });
    await action('A#2', 'recv');
    const echoed = 2048 * 1024 + text;
    await page.waitForFunction(`${conn('A#2', 'rxBytes')} === ${echoed}`, undefined, {
      timeout: 60_000,
    });
    for (const key of ['A#2', 'B#2'])
      await page.waitForSelector(`${writable(key)}[data-on="true"]`, { timeout: 10_000 });

    // Half-close: B sees EOF, closes after its echo drained; A closes after B's FIN.
    await action('A#2', 'shut');
    for (const key of ['A#2', 'B#2'])
      await page.waitForSelector(`${row(key)}[data-state="TERMINATED"]`, { timeout: 60_000 });
    assert.match((await page.textContent(row('B#2'))) ?? '', '(close)');

    // Accept is not established: B#3 waits for markActive.
    await page.click('#auto-activate');
    await page.click('#open-conn');
    await page.waitForSelector(`${row('B#3')} button[data-action="activate"]:not([hidden])`, {
      timeout: 30_000,
    });
    assert.is(
      await page.getAttribute(`${row('B#3')} .badge[data-flag="active"]`, 'data-on'),
      'false',
    );
    await action('B#3', 'activate');
    await page.waitForSelector(`${row('B#3')} .badge[data-flag="active"][data-on="true"]`);
    await page.click('#auto-activate');

    // Abort: RST; the peer sees a reset.
    await action('A#3', 'abort');
    await page.waitForSelector(`${row('A#3')}[data-state="TERMINATED"]`, { timeout: 30_000 });
    await page.waitForSelector(`${row('B#3')}[data-state="TERMINATED"]`, { timeout: 30_000 });
    assert.match((await page.textContent(row('A#3'))) ?? '', '(abort)');
    assert.match((await page.textContent(row('B#3'))) ?? '', 'reset');
    assert.equal(pageErrors, []);
  },
);

testUnless(test, reason, 'the pcap download is a raw-IP pcap file of the session', async () => {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#pcap-download'),
  ]);
  const path = await download.path();
  assert.ok(path, 'downloaded');
  const file = readFileSync(path!);
  assert.is(file.readUInt32LE(0), 0xa1b2c3d4, 'pcap magic');
  assert.is(file.readUInt32LE(20), 101, 'LINKTYPE_RAW');
  assert.ok(file.length > 256 * 1024, `${file.length} bytes: the transfer is in it`);
});

testUnless(
  test,
  reason,
  'built-in scenarios give the same trace sha256 in Chromium as in Node',
  async () => {
    for (const [name, seed] of [
      ['lossy', 5],
      ['half-close', 3],
    ] as const) {
      const inPage = await page.evaluate(
        ([n, s]) => window.lwipPlayground!.runScenario(n, s) as Promise<PageScenarioResult>,
        [name, seed] as const,
      );
      const inNode = await runScenario(findScenario(name)!, { seed });
      assert.ok(inPage.ok, `Chromium: ${inPage.problems.join('; ')}`);
      assert.ok(inNode.ok, `Node: ${inNode.problems.join('; ')}`);
      assert.is(inPage.hash, inNode.trace.hash, `${name} seed ${seed}`);
      assert.equal(
        [inPage.send, inPage.drop, inPage.deliver],
        [inNode.trace.send, inNode.trace.drop, inNode.trace.deliver],
      );
    }
    assert.equal(pageErrors, []);
  },
);

test.run();
