/**
 * Resident memory of the workerd processes under one `wrangler dev` (its process group): the
 * worker's own memory, not the npm/wrangler/esbuild processes around it.
 */

import { execFileSync } from "node:child_process";

function workerdRssBytes(pgid: number): number {
  let out = "";
  try {
    out = execFileSync("ps", ["-o", "rss=,comm=", "-g", String(pgid)], { encoding: "utf8" });
  } catch {
    return 0;
  }
  let kib = 0;
  for (const line of out.split("\n")) {
    const [rss, comm] = line.trim().split(/\s+/);
    if (comm === "workerd") kib += Number(rss);
  }
  return kib * 1024;
}

/** Samples every `everyMs` until stopped; reports the idle level (first sample) and the peak. */
export function sampleRss(pgid: number, everyMs = 50): { stop(): { idle: number; peak: number } } {
  const idle = workerdRssBytes(pgid);
  let peak = idle;
  const timer = setInterval(() => (peak = Math.max(peak, workerdRssBytes(pgid))), everyMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, workerdRssBytes(pgid));
      return { idle, peak };
    },
  };
}
