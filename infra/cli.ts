/**
 * Command-line parsing for the operator commands: `--help` prints what the command does, its
 * options, its environment and an example; an unknown or malformed option is refused in one line
 * (exit 2), never with a stack trace; and a failure that ends the command is one line in words
 * (lib/failure.ts).
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { installFailureHandler } from "./lib/failure.ts";

export interface Command<O extends NonNullable<ParseArgsConfig["options"]>> {
  /** e.g. `npm run smoke -- URL` */
  usage: string;
  options: O;
  /** One line per option: `--name VALUE  what it does`. */
  help: string[];
  environment?: string[];
  example: string;
  positionals?: boolean;
}

function helpText(command: Command<NonNullable<ParseArgsConfig["options"]>>): string {
  const lines = [`usage: ${command.usage}`, "", "options:", ...command.help.map((h) => `  ${h}`), "  --help           this text"];
  if (command.environment?.length) lines.push("", "environment:", ...command.environment.map((e) => `  ${e}`));
  lines.push("", `example: ${command.example}`);
  return lines.join("\n");
}

/**
 * A value after an option that takes one is that option's value even when it starts with `-` and
 * is no option of the command: `--packages -3` (refused by the option's own check, "expects a
 * whole number from 1 …"), `--revoke-token -Xxf…` (a token id may start with `-`). Joined as
 * `--option=value`, which parseArgs reads as meant.
 */
function dashedValues(args: string[], options: NonNullable<ParseArgsConfig["options"]>): string[] {
  // The command's own options (and --help, -h): anything else starting with "-" is a value.
  const isOption = (arg: string) =>
    arg === "-h" || (arg.startsWith("--") && [...Object.keys(options), "help"].includes(arg.slice(2).split("=")[0]!));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const takesValue = /^--[\w-]+$/.test(arg) && options[arg.slice(2)]?.type === "string";
    if (takesValue && next?.startsWith("-") && !isOption(next)) out.push(`${arg}=${args[++i]}`);
    else out.push(arg);
  }
  return out;
}

export function parseCommand<O extends NonNullable<ParseArgsConfig["options"]>>(command: Command<O>, args = process.argv.slice(2)) {
  installFailureHandler();
  const name = command.usage.split(" -- ")[0];
  const config = {
    args: dashedValues(args, command.options),
    options: { ...command.options, help: { type: "boolean" as const, short: "h" } },
    allowPositionals: command.positionals ?? false,
    strict: true as const,
  };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n")[0]!.split(". To specify")[0]! : String(err);
    // parseArgs reads a value that starts with a dash ("--packages -3") as another option.
    const flag = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message)?.[1];
    const value = flag ? args[args.indexOf(flag) + 1] : undefined;
    const said = flag
      ? `${flag} needs a value, and ${JSON.stringify(value)} is not one (write ${flag}=${value} to pass it anyway)`
      : message;
    console.error(`✗ ${said} (${name} -- --help lists the options)`);
    process.exit(2);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(helpText(command as unknown as Command<NonNullable<ParseArgsConfig["options"]>>));
    process.exit(0);
  }
  return parsed;
}
