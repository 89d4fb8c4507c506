#!/usr/bin/env node
// Measures writes/s through a running stand-in (or any deployment of these
// functions): POSTs N distinct agent outputs with C concurrent clients.
// Bounded in count; loopback only by default.
//   node scripts/bench-standin.mjs [--url http://127.0.0.1:3210] [-n 2000] [-c 8]
// Needs CONVEX_SYNC_SECRET (the same value the stand-in runs with).
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:3210" },
    n: { type: "string", short: "n", default: "2000" },
    c: { type: "string", short: "c", default: "8" },
  },
});
const url = new URL("/agent-outputs", values.url).href;
const total = Number(values.n);
const concurrency = Number(values.c);
const secret = process.env.CONVEX_SYNC_SECRET ?? "";
const run = Date.now().toString(36);

const body = (i) =>
  JSON.stringify({
    idempotencyKey: `bench-${run}-${i}`,
    jobId: `bench-job-${i % 100}`,
    userId: `bench-user-${i % 10}`,
    agent: "profile-analyzer",
    agentVersion: "bench",
    status: "succeeded",
    inputSummary: { i },
    output: { text: "x".repeat(800) },
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: 1,
  });

let next = 0;
const statuses = {};
const latencies = [];
async function worker() {
  while (next < total) {
    const i = next++;
    const t0 = performance.now();
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Convex-Sync-Secret": secret },
      body: body(i),
    });
    await res.arrayBuffer();
    latencies.push(performance.now() - t0);
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
  }
}
const start = performance.now();
await Promise.all(Array.from({ length: concurrency }, worker));
const secs = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
console.log(
  JSON.stringify({
    requests: total,
    concurrency,
    seconds: Number(secs.toFixed(2)),
    writesPerSecond: Math.round(total / secs),
    statuses,
    latencyMs: { p50: pct(50), p95: pct(95), p99: pct(99) },
  }),
);
