/**
 * The connection-rate client of `make bench-tun`, run inside the
 * benchmark's network namespace (its sockets are the namespace kernel's,
 * so every connection crosses the TUN device or slirp4netns' tap):
 *
 *   node --import tsx bench/tun-client.ts HOST PORT SECONDS WORKERS FIRST_PORT MAX
 *
 * WORKERS loops each open a new TCP connection per request (HTTP/1.0
 * `GET /`, the server answers and closes), one after another, until
 * SECONDS have passed or MAX connections were started. Local ports are
 * bound explicitly, in sequence from FIRST_PORT, so no port pair repeats
 * within a run (lwIP 2.1.3 answers a SYN that meets one of its own
 * TIME_WAIT connections with an ACK instead of accepting it, which would
 * measure that instead of the connection path). Prints one JSON line:
 * {"requests":n,"errors":n,"seconds":s,"rate":n/s,"firstError":...}.
 */
import { connect } from 'node:net';

const [host, portText, secondsText, workersText, firstPortText, maxText] = process.argv.slice(2);
const port = Number(portText);
const seconds = Number(secondsText);
const workers = Number(workersText);
const max = Number(maxText);
let nextPort = Number(firstPortText);
const lastPort = 65535;

const REQUEST = Buffer.from('GET / HTTP/1.0\r\nHost: bench\r\n\r\n');
const started = performance.now();
const deadline = started + seconds * 1000;
let begun = 0;
let requests = 0;
let errors = 0;
let firstError: string | undefined;
let running = workers;

function one(): void {
  if (performance.now() >= deadline || begun >= max || nextPort > lastPort) {
    if (--running === 0) finish();
    return;
  }
  begun++;
  const socket = connect({ host: host!, port, localPort: nextPort++ });
  let head = '';
  let failed = false;
  socket.on('connect', () => socket.end(REQUEST));
  socket.on('data', (d: Buffer) => {
    if (head.length < 12) head += d.toString('latin1', 0, 12);
  });
  socket.on('error', (e: Error & { code?: string }) => {
    failed = true;
    errors++;
    firstError ??= e.code ?? e.message;
  });
  socket.on('close', () => {
    if (!failed) {
      if (head.startsWith('HTTP/1.1 200')) requests++;
      else {
        errors++;
        firstError ??= `bad reply ${JSON.stringify(head)}`;
      }
    }
    one();
  });
}

function finish(): void {
  const elapsed = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      requests,
      errors,
      seconds: elapsed,
      rate: requests / elapsed,
      ...(firstError !== undefined ? { firstError } : {}),
    }),
  );
}

for (let i = 0; i < workers; i++) one();
