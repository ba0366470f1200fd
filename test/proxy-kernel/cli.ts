/**
 * Runs `lwip-wasm proxy` (runProxy) with this process's arguments, so the
 * kernel tests can start the real command line as a child and end it by
 * PID with a signal, before the command is wired into src/cli/main.ts.
 */
import { runProxy } from '../../src/cli/proxy.js';

process.exitCode = await runProxy(process.argv.slice(2));
