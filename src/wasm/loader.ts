/**
 * Finds and compiles lwip.wasm. The same code runs in Node and in browsers:
 * callers may pass the module's bytes, a URL to fetch, or an already compiled
 * WebAssembly.Module; by default the file next to the package's JavaScript
 * is used. Compiling happens once per source and is shared by every stack.
 */

/** Where the WASM module comes from. */
export type WasmSource = BufferSource | URL | string | WebAssembly.Module;

let defaultModule: Promise<WebAssembly.Module> | undefined;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Compiles (or returns the cached compile of) the lwIP module. */
export function loadModule(source?: WasmSource): Promise<WebAssembly.Module> {
  if (source === undefined) {
    defaultModule ??= compileDefault();
    return defaultModule;
  }
  if (source instanceof WebAssembly.Module) return Promise.resolve(source);
  if (typeof source === 'string' || source instanceof URL) return compileUrl(source);
  return WebAssembly.compile(source);
}

async function compileUrl(url: string | URL): Promise<WebAssembly.Module> {
  const u = typeof url === 'string' ? new URL(url, baseUrl()) : url;
  if (u.protocol === 'file:' && isNode) return WebAssembly.compile(await readNodeFile(u));
  const response = await fetch(u);
  if (!response.ok) throw new Error(`lwip-wasm: fetching ${u.href} failed: ${response.status}`);
  return WebAssembly.compileStreaming
    ? WebAssembly.compileStreaming(response)
    : WebAssembly.compile(await response.arrayBuffer());
}

/**
 * Reads a file in Node. node:fs rather than node:fs/promises: Node has
 * loaded the former anyway, while the latter brings streams, readline and
 * more into every process (about 1 MiB resident) for one read of 100 KB.
 */
async function readNodeFile(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  const { readFileSync } = await import('node:fs');
  return readFileSync(url);
}

function baseUrl(): string {
  return typeof location !== 'undefined' ? location.href : import.meta.url;
}

async function compileDefault(): Promise<WebAssembly.Module> {
  // dist/wasm/loader.js -> dist/lwip.wasm; src/wasm/loader.ts -> build/lwip.wasm.
  const candidates = [
    new URL('../lwip.wasm', import.meta.url),
    new URL('../../build/lwip.wasm', import.meta.url),
  ];
  if (!isNode) return compileUrl(candidates[0]!);
  for (const url of candidates) {
    try {
      return await WebAssembly.compile(await readNodeFile(url));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  throw new Error(
    `lwip-wasm: lwip.wasm not found (looked at ${candidates.map((u) => u.pathname).join(', ')}); run 'make wasm' or pass options.wasm`,
  );
}
