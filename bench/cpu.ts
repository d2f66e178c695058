/**
 * CPU time spent by the processes under one `wrangler dev` (its process group: wrangler, its
 * workerd processes), read from /proc. Per request it is a steadier figure than requests per second
 * on a shared machine: other work slows a server down, but does not make it spend more CPU per request.
 */

import autocannon from "autocannon";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** CPU milliseconds (user + system) used so far by the processes in group `pgid`, by command name. */
function groupCpuMs(pgid: number): Map<string, number> {
  let pids: string[] = [];
  try {
    pids = execFileSync("pgrep", ["-g", String(pgid)], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean);
  } catch {
    return new Map();
  }
  const byCommand = new Map<string, number>();
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone since pgrep
    }
    // Fields after the command (in parentheses, which may hold spaces): state is field 3, utime 14, stime 15.
    const command = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(rest[11]) + Number(rest[12]);
    byCommand.set(command, (byCommand.get(command) ?? 0) + (ticks * 1000) / TICKS_PER_SECOND);
  }
  return byCommand;
}

/** The CPU milliseconds group `pgid` spends while `work` runs: in all, and in its workerd processes. */
export async function cpuDuring(pgid: number, work: () => Promise<void>): Promise<{ all: number; workerd: number }> {
  const sum = (m: Map<string, number>, only?: string) => [...m].filter(([c]) => !only || c === only).reduce((n, [, ms]) => n + ms, 0);
  const before = groupCpuMs(pgid);
  await work();
  const after = groupCpuMs(pgid);
  return { all: sum(after) - sum(before), workerd: sum(after, "workerd") - sum(before, "workerd") };
}

/**
 * CPU milliseconds per request of `requests` GETs of `url` at `connections` keep-alive
 * connections, spent by group `pgid` (in all, and in workerd). A failed request fails the measure.
 */
export async function cpuPerRequest(
  pgid: number,
  url: string,
  requests: number,
  connections: number,
): Promise<{ all: number; workerd: number }> {
  const cpu = await cpuDuring(pgid, async () => {
    const r = await autocannon({ url, connections, amount: requests });
    if (r.errors + r.non2xx > 0) throw new Error(`${url}: ${r.errors + r.non2xx} failed requests`);
  });
  return { all: cpu.all / requests, workerd: cpu.workerd / requests };
}

/** CPU milliseconds per second group `pgid` spends doing nothing asked of it (over `ms`). */
export async function idleCpuPerSecond(pgid: number, ms = 3000): Promise<{ all: number; workerd: number }> {
  const cpu = await cpuDuring(pgid, () => new Promise((r) => setTimeout(r, ms)));
  return { all: (cpu.all * 1000) / ms, workerd: (cpu.workerd * 1000) / ms };
}
