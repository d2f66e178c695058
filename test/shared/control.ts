/**
 * Client for the fixture server's control API, usable from Node and from inside workerd (plain
 * fetch): create upstreams, read what they were asked, fetch the bytes they serve.
 */

import type { Fault, UpstreamConfig } from "./upstream-config.ts";

export type { Fault, UpstreamConfig };

interface RequestRecord {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Body bytes the upstream has passed on so far (whole-object GETs). */
  sent: number;
}

export interface Upstream {
  url: string;
  log(): Promise<RequestRecord[]>;
  /** Replaces the configuration (and clears the log). */
  reconfigure(next: UpstreamConfig): Promise<void>;
}

let upstreamCount = 0;

/** Creates a fresh upstream on the fixture server (or replaces the one with this `name`). */
export async function createUpstream(
  controlUrl: string,
  config: UpstreamConfig = {},
  name = `up${++upstreamCount}-${Math.random().toString(36).slice(2, 8)}`,
): Promise<Upstream> {
  const endpoint = `${controlUrl}/control/upstreams/${name}`;
  const put = async (c: UpstreamConfig) => {
    const res = await fetch(endpoint, { method: "PUT", body: JSON.stringify(c) });
    if (res.status !== 200) throw new Error(`fixture server refused upstream ${name}: ${res.status}`);
    return (await res.json()) as { url: string };
  };
  const { url } = await put(config);
  return {
    url,
    async log() {
      return (await (await fetch(`${endpoint}/log`)).json()) as RequestRecord[];
    },
    async reconfigure(next) {
      await put(next);
    },
  };
}

/** The bytes the fixture upstream serves for a protocol path. */
export async function fixtureBytes(controlUrl: string, path: string): Promise<Uint8Array> {
  const res = await fetch(`${controlUrl}/control/file?path=${encodeURIComponent(path)}`);
  if (res.status !== 200) throw new Error(`no fixture for ${path}`);
  return new Uint8Array(await res.arrayBuffer());
}
