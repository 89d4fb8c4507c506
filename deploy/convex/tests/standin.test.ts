// @vitest-environment node
// Starts the stand-in as a real process (on a free port) and talks HTTP to it.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { agentOutput, careerRecommendations, SECRET } from "./fixtures";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const ISSUER = "https://clerk.standin.test";

let proc: ChildProcessWithoutNullStreams;
let base = "";
let output = "";
let privateKey: CryptoKey;
let exited: Promise<number | null>;

async function token(sub: string, opts: { issuer?: string; key?: CryptoKey; expSeconds?: number } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({ azp: "http://localhost:3000" })
    .setProtectedHeader({ alg: "RS256", kid: "dev" })
    .setSubject(sub)
    .setIssuer(opts.issuer ?? ISSUER)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.expSeconds ?? 60))
    .sign(opts.key ?? privateKey);
}

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(base + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

const sync = { "X-Convex-Sync-Secret": SECRET };

beforeAll(async () => {
  const keys = await generateKeyPair("RS256", { extractable: true });
  privateKey = keys.privateKey;
  proc = spawn(process.execPath, ["--import", "tsx", "standin/main.ts", "--port", "0"], {
    cwd: ROOT,
    env: {
      ...process.env,
      CONVEX_SYNC_SECRET: SECRET,
      CONVEX_STANDIN_ADMIN: "1",
      CLERK_JWT_KEY: await exportSPKI(keys.publicKey),
      CLERK_ISSUER: ISSUER,
      CLERK_JWKS_URL: "",
      CLERK_JWKS_FILE: "",
    },
  });
  exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
  proc.stderr.on("data", (d) => (output += d.toString()));
  base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stand-in did not start:\n${output}`)), 45_000);
    proc.stdout.on("data", (d) => {
      output += d.toString();
      const m = /convex-standin listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", (code) => reject(new Error(`stand-in exited (${code}):\n${output}`)));
  });
});

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    proc.kill("SIGTERM");
    await exited;
  }
});

describe("convex stand-in over real HTTP", () => {
  test("healthz", async () => {
    const res = await fetch(base + "/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  test("POST with secret -> created, again -> created:false, wrong secret -> 401", async () => {
    const r1 = await post("/agent-outputs", agentOutput(), sync);
    expect(r1.status).toBe(200);
    const b1 = await r1.json();
    expect(b1.created).toBe(true);
    const r2 = await post("/agent-outputs", agentOutput(), sync);
    expect(await r2.json()).toEqual({ id: b1.id, created: false });
    const r3 = await post("/agent-outputs", agentOutput(), { "X-Convex-Sync-Secret": "wrong" });
    expect(r3.status).toBe(401);
    expect((await r3.json()).error).toBe("unauthorized");
    const r4 = await post("/agent-outputs", agentOutput({ durationMs: "slow" }), sync);
    expect(r4.status).toBe(400);
    expect((await r4.json()).reason).toContain("durationMs");
    const docs = await (await fetch(base + "/_standin/documents?table=agentOutputs")).json();
    expect(docs.count).toBe(1);
  });

  test("POST /sync/batch runs the real action: a bad document fails alone", async () => {
    const bad = careerRecommendations({ idempotencyKey: "sb-bad", jobId: "sb-job-2" }) as any;
    bad.recommendations[0].score = 2;
    const res = await post(
      "/sync/batch",
      {
        documents: [
          { table: "agentOutputs", document: agentOutput({ idempotencyKey: "sb-1", jobId: "sb-job" }) },
          { table: "careerRecommendations", document: bad },
          { table: "careerRecommendations", document: careerRecommendations({ idempotencyKey: "sb-2", jobId: "sb-job" }) },
        ],
      },
      sync,
    );
    expect(res.status).toBe(200);
    const { results } = await res.json();
    expect(results.map((r: any) => r.status)).toEqual([200, 400, 200]);
    expect(results[1].reason).toBe("recommendations[0].score: must be <= 1");
    const recs = await (await fetch(base + "/_standin/documents?table=careerRecommendations")).json();
    const keys = recs.documents.map((d: any) => d.idempotencyKey);
    expect(keys).toContain("sb-2");
    expect(keys).not.toContain("sb-bad");
    expect((await post("/sync/batch", { documents: [] }, { "X-Convex-Sync-Secret": "nope" })).status).toBe(401);
  });

  test("/api/query with Clerk tokens: own doc for A, null for B, anonymous null", async () => {
    const rec = await post("/career-recommendations", careerRecommendations({ jobId: "job-q" }), sync);
    expect(rec.status).toBe(200);
    const query = (auth?: string) =>
      post(
        "/api/query",
        { path: "careerRecommendations:getByJob", args: { jobId: "job-q" }, format: "json" },
        auth ? { Authorization: `Bearer ${auth}` } : {},
      );
    const a = await query(await token("user_A"));
    expect(a.status).toBe(200);
    const bodyA = await a.json();
    expect(bodyA.status).toBe("success");
    expect(bodyA.value.userId).toBe("user_A");
    expect(bodyA.value.recommendations[0].occupationCode).toBe("15-1252.00");
    expect(bodyA.logLines).toEqual([]);
    const b = await (await query(await token("user_B"))).json();
    expect(b).toEqual({ status: "success", value: null, logLines: [] });
    const anon = await (await query()).json();
    expect(anon.value).toBeNull();
    // ConvexHttpClient's shape: args as a one-element array.
    const list = await post(
      "/api/query",
      { path: "agentOutputs:listByJob", args: [{ jobId: "job-1" }], format: "convex_encoded_json" },
      { Authorization: `Bearer ${await token("user_A")}` },
    );
    expect((await list.json()).value).toHaveLength(1);
  });

  test("/api/query answers browsers' CORS preflight (any origin, as Convex does)", async () => {
    const preflight = await fetch(base + "/api/query", {
      method: "OPTIONS",
      headers: {
        Origin: "http://localhost:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,convex-client",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
    expect(preflight.headers.get("access-control-allow-headers")).toBe("authorization,content-type,convex-client");
    const res = await post(
      "/api/query",
      { path: "careerRecommendations:getByJob", args: { jobId: "none" }, format: "json" },
      { Origin: "http://localhost:3000" },
    );
    expect(res.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
  });

  test("invalid tokens -> 401; internal functions are not callable", async () => {
    const other = await generateKeyPair("RS256");
    const bad = [
      await token("user_A", { key: other.privateKey }),
      await token("user_A", { issuer: "https://evil.test" }),
      await token("user_A", { expSeconds: -120 }),
      "not-a-jwt",
    ];
    for (const t of bad) {
      const res = await post(
        "/api/query",
        { path: "careerRecommendations:getByJob", args: { jobId: "job-q" } },
        { Authorization: `Bearer ${t}` },
      );
      expect(res.status).toBe(401);
      expect((await res.json()).error).toBe("unauthorized");
    }
    const internal = await post("/api/mutation", { path: "agentOutputs:upsert", args: agentOutput({ idempotencyKey: "x" }) });
    expect(internal.status).toBe(560);
    const body = await internal.json();
    expect(body.status).toBe("error");
    expect(body.errorMessage).toContain("Could not find public function");
  });

  test("faults: 503 with Retry-After for `count` requests, then success", async () => {
    const set = await post("/_standin/faults", { status: 503, count: 2, retryAfter: 1, paths: ["/agent-outputs"] });
    expect(set.status).toBe(200);
    const body = agentOutput({ idempotencyKey: "evt-fault" });
    for (let i = 0; i < 2; i++) {
      const res = await post("/agent-outputs", body, sync);
      expect(res.status).toBe(503);
      expect(res.headers.get("Retry-After")).toBe("1");
    }
    // Other paths are not affected by a path-scoped fault.
    expect((await fetch(base + "/healthz")).status).toBe(200);
    const ok = await post("/agent-outputs", body, sync);
    expect(ok.status).toBe(200);
    expect((await ok.json()).created).toBe(true);
    // Clearing removes pending faults.
    await post("/_standin/faults", { status: 500, count: 5 });
    await post("/_standin/faults/clear", {});
    expect((await post("/agent-outputs", body, sync)).status).toBe(200);
  });

  test("reset empties the tables; bad fault spec -> 400", async () => {
    expect((await post("/_standin/faults", { status: 42 })).status).toBe(400);
    expect((await fetch(base + "/_standin/documents?table=nope")).status).toBe(400);
    expect((await post("/_standin/reset", {})).status).toBe(200);
    const counts = await (await fetch(base + "/_standin/documents")).json();
    expect(counts.tables).toEqual({ agentOutputs: 0, careerRecommendations: 0 });
  });

  test("logs one line per request and stops cleanly on SIGTERM", async () => {
    expect(output).toMatch(/POST \/agent-outputs 200 \d+(\.\d+)?ms/);
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).toContain("convex-standin stopped");
  });
});
