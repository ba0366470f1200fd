/**
 * A small option parser for the CLI: `--name value`, `--name=value` and
 * boolean `--flag`. Unknown options are errors that name the option.
 */
export interface OptionSpec {
  /** 'string' | 'number' | 'boolean'; repeated options collect into an array with `many`. */
  type: 'string' | 'number' | 'boolean';
  many?: boolean;
}

export type ParsedArgs = { positional: string[]; options: Record<string, unknown> };

export function parseArgs(args: string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const positional: string[] = [];
  const options: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new Error(`unknown option --${name}`);
    let value: unknown = true;
    if (s.type !== 'boolean') {
      const text = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (text === undefined) throw new Error(`option --${name} needs a value`);
      value = text;
      if (s.type === 'number') {
        value = Number(text);
        if (!Number.isFinite(value))
          throw new Error(`option --${name} needs a number, got '${text}'`);
      }
    }
    if (s.many) ((options[name] ??= []) as unknown[]).push(value);
    else options[name] = value;
  }
  return { positional, options };
}
