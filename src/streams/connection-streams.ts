/**
 * Web streams over a TcpConnection, for browsers (and Node): `readable` is a
 * ReadableStream of received chunks whose queue, counted in bytes, drives
 * setRecvEnabled (a full queue pauses delivery, a pull resumes it);
 * `writable` is a WritableStream whose write() resolves once the connection
 * took every byte (waiting for its writable edges), close() sends FIN and
 * abort() resets. The peer's FIN closes `readable`; a reset errors both.
 */
import type { TcpConnection } from '../tcp/connection.js';

/** Bytes queued in `readable` before delivery pauses. */
const READ_HIGH_WATER = 256 * 1024;

export interface ConnectionStreams {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

const cache = new WeakMap<TcpConnection, ConnectionStreams>();

/** The (one) pair of streams of a connection; created on first use. */
export function streamsOf(conn: TcpConnection): ConnectionStreams {
  let s = cache.get(conn);
  if (!s) {
    s = { readable: readableOf(conn), writable: writableOf(conn) };
    cache.set(conn, s);
  }
  return s;
}

function readableOf(conn: TcpConnection): ReadableStream<Uint8Array> {
  let paused = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        conn.on('readable', (data) => {
          controller.enqueue(data);
          if ((controller.desiredSize ?? 1) <= 0 && !paused) {
            paused = true;
            conn.setRecvEnabled(false, { pause: 'closeWindow' });
          }
        });
        conn.on('readEOF', () => controller.close());
        conn.on('terminated', (_reason, error) => {
          if (error) controller.error(error);
          else if (!conn.readEnded) {
            try {
              controller.close();
            } catch {
              // already closed
            }
          }
        });
      },
      pull() {
        if (paused) {
          paused = false;
          conn.setRecvEnabled(true);
        }
      },
      cancel() {
        conn.abort();
      },
    },
    { highWaterMark: READ_HIGH_WATER, size: (chunk) => chunk.byteLength },
  );
}

function writableOf(conn: TcpConnection): WritableStream<Uint8Array> {
  const whenActive = () =>
    conn.active || !conn.alive
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          conn.once('becameActive', resolve);
          conn.once('terminated', () => resolve());
        });
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      await whenActive();
      let offset = 0;
      while (offset < chunk.length) {
        if (!conn.alive) throw conn.error ?? new Error('the connection ended');
        const n = conn.write(chunk.subarray(offset));
        offset += n;
        if (n === 0) {
          await new Promise<void>((resolve) => {
            const done = () => {
              conn.off('writable', done);
              conn.off('terminated', done);
              resolve();
            };
            conn.on('writable', done);
            conn.on('terminated', done);
          });
        }
      }
    },
    async close() {
      await whenActive();
      conn.shutdownWrite();
    },
    abort() {
      conn.abort();
    },
  });
}
