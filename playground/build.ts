/**
 * Builds the playground into playground/dist: src/main.ts bundled by
 * esbuild for browsers (with the library from ../src, so the page runs the
 * same TypeScript as Node), index.html, style.css, and build/lwip.wasm
 * copied next to the page. The bundle lives in dist/js/ so that the
 * library's default '../lwip.wasm' (relative to the bundle) is the same file
 * the page loads.
 *
 * Node-only corners of the library (node:fs for pcap files, the TUN addon)
 * are dynamic imports that never run in a page; they stay external.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const playgroundDir = fileURLToPath(new URL('.', import.meta.url));
export const distDir = join(playgroundDir, 'dist');
const wasmFile = join(playgroundDir, '..', 'build', 'lwip.wasm');

/** Builds dist/ from scratch; returns its path. Throws when build/lwip.wasm is missing. */
export async function buildPlayground(): Promise<string> {
  if (!existsSync(wasmFile))
    throw new Error(`playground: ${wasmFile} is missing; run 'make wasm' first`);
  await rm(distDir, { recursive: true, force: true });
  await mkdir(join(distDir, 'js'), { recursive: true });
  await build({
    entryPoints: [join(playgroundDir, 'src', 'main.ts')],
    outfile: join(distDir, 'js', 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    external: ['node:*'],
    logLevel: 'warning',
  });
  await Promise.all([
    copyFile(join(playgroundDir, 'index.html'), join(distDir, 'index.html')),
    copyFile(join(playgroundDir, 'style.css'), join(distDir, 'style.css')),
    copyFile(wasmFile, join(distDir, 'lwip.wasm')),
  ]);
  return distDir;
}
