/**
 * nginx (Debian's nginx-light) as the reference: serving the same files from disk, which is how
 * the deployment pkgedge replaces served cache hits, or as a `proxy_cache` pull-through cache in
 * front of the same upstream, which is the design pkgedge replaces.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { have } from "./lib.ts";
import { freePort } from "../test/fixtures/wrangler-dev.ts";

const NGINX = "/usr/sbin/nginx";

export function nginxAvailable(): boolean {
  if (have("nginx") || have(NGINX)) return true;
  console.log("  nginx is not installed, so its rows are skipped. Install it with: sudo apt-get install nginx-light");
  return false;
}

export interface Nginx {
  url: string;
  stop(): Promise<void>;
}

export async function startNginx(dir: string, mode: { root: string } | { proxyTo: string }): Promise<Nginx> {
  mkdirSync(join(dir, "tmp"), { recursive: true });
  const port = await freePort();
  const location =
    "root" in mode
      ? `root ${mode.root}; default_type application/x-gzip;`
      : `proxy_pass ${mode.proxyTo}/; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_cache pkg; proxy_cache_valid 200 7d; proxy_cache_lock on; proxy_cache_lock_timeout 1h; proxy_cache_lock_age 1h;`;
  writeFileSync(
    join(dir, "nginx.conf"),
    `${process.getuid?.() === 0 ? "user root;\n" : ""}worker_processes auto;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=pkg:10m max_size=20g inactive=7d use_temp_path=off;
  server {
    listen 127.0.0.1:${port};
    location / { ${location} }
  }
}
`,
  );
  const child: ChildProcess = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "ignore", detached: true });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(500) });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    async stop() {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {}
      await new Promise((r) => setTimeout(r, 200));
    },
  };
}
