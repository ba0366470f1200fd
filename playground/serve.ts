/**
 * Serves the playground: builds playground/dist (build.ts), then a small
 * static file server (node:http) on 127.0.0.1 only.
 *
 *   npm run playground              http://127.0.0.1:5173/
 *   PORT=8080 npm run playground    another port; PORT=0 takes a free one
 *
 * startServer() is also what the Chromium test uses (on a free port).
 */
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { buildPlayground, distDir } from './build.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  // compileStreaming() requires exactly this type.
  '.wasm': 'application/wasm',
};

/** A running playground server. */
export interface PlaygroundServer {
  readonly url: string;
  readonly port: number;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

/** Serves `root` (default playground/dist, which must be built) on 127.0.0.1:`port` (0: any free port). */
export async function startServer(
  options: { port?: number; root?: string } = {},
): Promise<PlaygroundServer> {
  const root = resolve(options.root ?? distDir);
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      } catch {
        res.writeHead(400).end();
        return;
      }
      let file = resolve(root, '.' + path);
      if (file !== root && !file.startsWith(root + sep)) {
        res.writeHead(403).end();
        return;
      }
      try {
        if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
        const body = await readFile(file);
        res.writeHead(200, {
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          'content-length': body.length,
          'cache-control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      } catch {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    })();
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? DEFAULT_PORT, '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/** The port `npm run playground` listens on when PORT is not set. */
export const DEFAULT_PORT = 5173;

/**
 * The port from the environment: PORT if set (an integer in 0..65535; 0 takes
 * a free one), else DEFAULT_PORT. Throws on anything else.
 */
export function resolvePort(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.PORT ?? String(DEFAULT_PORT);
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535)
    throw new Error(`PORT must be an integer in 0..65535, got '${text}'`);
  return port;
}

async function main(): Promise<void> {
  const port = resolvePort();
  await buildPlayground();
  const server = await startServer({ port });
  console.log(`lwip-wasm playground: ${server.url}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
