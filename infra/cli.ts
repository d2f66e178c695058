/**
 * Command-line parsing for the operator commands: `--help` prints what the command does, its
 * options, its environment and an example; an unknown or malformed option is refused in one line
 * (exit 2), never with a stack trace.
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

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

export function parseCommand<O extends NonNullable<ParseArgsConfig["options"]>>(command: Command<O>, args = process.argv.slice(2)) {
  const name = command.usage.split(" -- ")[0];
  const config = {
    args,
    options: { ...command.options, help: { type: "boolean" as const, short: "h" } },
    allowPositionals: command.positionals ?? false,
    strict: true as const,
  };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    console.error(
      `✗ ${err instanceof Error ? err.message.split("\n")[0]!.split(". To specify")[0] : String(err)} (${name} -- --help lists the options)`,
    );
    process.exit(2);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(helpText(command as unknown as Command<NonNullable<ParseArgsConfig["options"]>>));
    process.exit(0);
  }
  return parsed;
}
