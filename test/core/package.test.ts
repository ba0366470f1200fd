/**
 * The published package: `npm pack` of the built tree works on its own —
 * no Emscripten, no sources — and the package root is the only entry point.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { testUnless } from '../helpers/skip.js';

const test = suite('package');
const root = new URL('../..', import.meta.url).pathname;
const built = existsSync(join(root, 'dist/index.js')) && existsSync(join(root, 'dist/lwip.wasm'));

testUnless(
  test,
  built ? undefined : 'dist/ is not built (make build)',
  'npm pack gives a self-contained package',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'lwip-wasm-pack-'));
    try {
      const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], {
        cwd: root,
        encoding: 'utf8',
      });
      const tarball = join(dir, out.trim().split('\n').pop()!);
      const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
      assert.ok(files.includes('package/dist/lwip.wasm'), 'the WASM module ships');
      assert.ok(files.includes('package/dist/index.d.ts'), 'types ship');
      assert.not.ok(
        files.some((f) => f.startsWith('package/src/') || f.startsWith('package/wasm/')),
        'no sources',
      );
      const app = join(dir, 'app');
      const pkg = join(app, 'node_modules', 'lwip-wasm');
      mkdirSync(pkg, { recursive: true });
      execFileSync('tar', ['-xzf', tarball, '-C', pkg, '--strip-components=1']);
      mkdirSync(join(app, 'node_modules', '@bjorn3'), { recursive: true });
      symlinkSync(
        join(root, 'node_modules/@bjorn3/browser_wasi_shim'),
        join(app, 'node_modules/@bjorn3/browser_wasi_shim'),
      );
      const script = `
      import { Stack, VirtualClock, linkInterfaces } from 'lwip-wasm';
      const clock = new VirtualClock();
      const a = await Stack.create({ clock }), b = await Stack.create({ clock });
      linkInterfaces(a.addInterface({ ipv4: '10.0.0.1/24' }), b.addInterface({ ipv4: '10.0.0.2/24' }));
      b.listen({ port: 7 }, (c) => { c.markActive(); c.on('readable', (d) => c.write(d)); });
      const c = a.connect({ address: '10.0.0.2', port: 7 });
      let text = '';
      c.on('becameActive', () => c.write(new TextEncoder().encode('packed')));
      c.on('readable', (d) => (text += new TextDecoder().decode(d)));
      await clock.advanceUntil(() => text === 'packed');
      let deep = 'blocked';
      try { await import('lwip-wasm/dist/tcp/stack.js'); deep = 'reachable'; } catch {}
      console.log(text, deep);
    `;
      const result = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: app,
        encoding: 'utf8',
        env: { ...process.env, PATH: '/usr/bin:/bin' },
      });
      assert.is(result.trim(), 'packed blocked');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test.run();
