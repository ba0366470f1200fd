/**
 * What tests need from the host system: whether a command exists, and
 * installing the Debian package that provides it (only under CI, as root).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

const CI = process.env.CI === 'true';
const isRoot = process.getuid?.() === 0;

/** True when `command` is an executable on PATH. */
export function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** True when `command` exists, installing `pkg` with apt-get first under CI as root. */
export function ensure(command: string, pkg: string): boolean {
  if (onPath(command)) return true;
  if (!CI || !isRoot) return false;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], {
      env,
      stdio: 'ignore',
    }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore' });
    install();
  }
  return onPath(command);
}
