/**
 * `npm run bench [-- SECTION…]`: pkgedge measured beside a reference in the same run, on the same
 * machine and data, reported as ratios (absolute numbers on these machines are noisy). Sections:
 *
 *   verify  the tree-hash verifier inside workerd vs `gzip -dc FILE | sha1sum`         (bench/verify.ts)
 *   hits    (a) small warm hits at 32 connections (requests/s, and CPU per request beside a naive R2
 *           worker with and without a log line), (b) a warm 300 MB artifact, vs nginx (bench/hits.ts)
 *   cold    (c) cold 300 MB vs direct and nginx proxy_cache, (d) memory, (e) 50 at once (bench/cold.ts)
 *   crowd   (e) alone: 50 concurrent cold requests for one artifact vs nginx proxy_cache_lock (bench/cold.ts)
 *   first-byte  a cold first byte step by step (warm hit, cold GET with one and two upstreams, cold HEAD) vs direct (bench/first-byte.ts)
 *   packages  cold 1 MB and 8 MB packages vs direct; a cold 34 MB fill whose upstream resets halfway (bench/packages.ts)
 *   tree    the verifier's memory per archive entry beside a bare Map of the same entries (bench/tree-memory.ts)
 *   memory  workerd RSS during cold 300 MB and 1 GiB fills, bucket outside workerd, heap capped (bench/memory.ts)
 *   binaries  a 150 MB release through the binary mirror, cold and warm, vs a direct download (bench/binaries.ts)
 *   prefetch  diffing two General-sized registry snapshots (heap capped at 128 MB) vs tar -tz (bench/prefetch.ts)
 *   zstd    variants: sizes and unpack times vs gzip, making them in workerd, warm zstd vs gzip hits (bench/zstd.ts)
 *   requests  billed bucket operations and upstream requests per kind of request, for the cost estimate (bench/requests.ts)
 *   cost    CPU ms per warm hit, per cold MB, per registry refresh round and per prefetched item (bench/cost.ts)
 *
 * Data is built once under bench/out/. BENCH_RUNS (default 3) and BENCH_SECONDS (default 10) tune it.
 */

import { benchCold, benchCrowd } from "./cold.ts";
import { benchPackages } from "./packages.ts";
import { benchFirstByte } from "./first-byte.ts";
import { benchHits } from "./hits.ts";
import { RUNS } from "./lib.ts";
import { benchVerify } from "./verify.ts";
import { benchTreeMemory } from "./tree-memory.ts";
import { benchMemory } from "./memory.ts";
import { benchBinaries } from "./binaries.ts";
import { benchPrefetch } from "./prefetch.ts";
import { benchZstd } from "./zstd.ts";
import { benchRequests } from "./requests.ts";
import { benchCost } from "./cost.ts";

const sections = process.argv.slice(2);
const wanted = (name: string) => sections.length === 0 || sections.includes(name);

console.log(`pkgedge benchmarks (${RUNS} runs each, medians; same machine, same data, same run)`);
if (wanted("verify")) await benchVerify();
if (wanted("hits")) await benchHits();
if (wanted("cold")) await benchCold();
if (sections.includes("crowd")) await benchCrowd(); // part of "cold"
if (wanted("first-byte")) await benchFirstByte();
if (wanted("packages")) await benchPackages();
if (wanted("tree")) await benchTreeMemory();
if (wanted("memory")) await benchMemory();
if (wanted("binaries")) await benchBinaries();
if (wanted("prefetch")) await benchPrefetch();
if (wanted("zstd")) await benchZstd();
if (wanted("requests")) await benchRequests();
if (wanted("cost")) await benchCost();
