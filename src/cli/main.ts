#!/usr/bin/env -S node --optimize-for-size --v8-pool-size=1 --no-short-builtin-calls
/**
 * The lwip-wasm command line. Subcommands live in their own files; this one
 * parses the first word and hands over.
 *
 * The #! line runs Node tuned for memory, for the proxy, a long-lived
 * process: --optimize-for-size keeps V8's young generation at 1 MiB and
 * grows the old one in small steps (without it, the garbage of thousands
 * of short flows a second grows the heap by 40 MiB and more), one V8
 * worker thread instead of one per core spares the malloc arenas the
 * others fill, and --no-short-builtin-calls keeps V8 from mapping a second
 * copy of its built-in functions' code next to the code it compiles (~1 MiB
 * of pages of the node binary read twice). On the proxy's benchmark
 * (bench/tun.ts) its throughput and connection rate stayed the same, and
 * its peak RSS fell from ~120 MiB to ~70 MiB with the first two, and by
 * another ~1 MiB with the third. `node dist/cli/main.js` runs without them.
 *
 *   lwip-wasm demo            two stacks in memory: echo + bulk transfer
 *   lwip-wasm sim ...         a deterministic simulated exchange (pcap, summary)
 *   lwip-wasm proxy ...       the transparent TUN proxy (tun2socks job)
 *   lwip-wasm help            this text
 */

const USAGE = `usage: lwip-wasm <command> [options]

commands:
  demo [--mib N] [--mtu N]   two stacks on an in-memory link: an echo, a bulk
                             transfer with progress, throughput and stats
  sim <scenario|file.json> [--seed N] [--pcap FILE] [--json] [--trace]
                             run a deterministic simulation; 'sim --list' names
                             the built-in scenarios
  proxy --tun NAME --address CIDR [...]
                             transparent TCP proxy on a TUN device ('proxy --help')
  help                       show this text
`;

type Command = (args: string[]) => Promise<number>;

// Each command loads its own modules when it runs: the proxy, a long-lived
// process whose memory is measured, does not carry the simulator, pcap
// writer, watcher layer and the rest of the package.
const commands: Record<string, Command> = {
  demo: async (args) => {
    const code = await (await import('./demo.js')).runDemo(args);
    if (code !== 0 || args.length > 0) return code;
    // The main job through a real TUN device, when this machine allows it.
    return (await import('./proxy-demo.js')).runProxyDemo();
  },
  proxy: async (args) => (await import('./proxy.js')).runProxy(args),
  sim: async (args) => (await import('./sim.js')).runSim(args),
  help: async () => {
    process.stdout.write(USAGE);
    return 0;
  },
};

async function main(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  const command = commands[name];
  if (!command) {
    process.stderr.write(`lwip-wasm: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  return command(rest);
}

// Output piped into a command that stops reading (head) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`lwip-wasm: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
