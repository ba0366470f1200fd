#!/usr/bin/env node
/**
 * The lwip-wasm command line. Subcommands live in their own files; this one
 * parses the first word and hands over.
 *
 *   lwip-wasm demo            two stacks in memory: echo + bulk transfer
 *   lwip-wasm help            this text
 */
import { runDemo } from './demo.js';

const USAGE = `usage: lwip-wasm <command> [options]

commands:
  demo [--mib N] [--mtu N]   two stacks on an in-memory link: an echo, a bulk
                             transfer with progress, throughput and stats
  help                       show this text
`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, Command> = {
  demo: runDemo,
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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`lwip-wasm: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
