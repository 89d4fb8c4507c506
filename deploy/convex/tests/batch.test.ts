// POST /sync/batch: many documents per request, one result per document.
import { convexTest } from "convex-test";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { internal } from "../convex/_generated/api";
import schema from "../convex/schema";
import { agentOutput, careerRecommendations, SECRET } from "./fixtures";
import { modules } from "./modules";

function post(path: string, body: unknown, secret: string | null = SECRET): [string, RequestInit] {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (secret !== null) headers["X-Convex-Sync-Secret"] = secret;
  return [path, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) }];
}

const ao = (overrides: Record<string, unknown> = {}) => ({ table: "agentOutputs", document: agentOutput(overrides) });
const rec = (overrides: Record<string, unknown> = {}) => ({
  table: "careerRecommendations",
  document: careerRecommendations(overrides),
});

function strip(doc: any) {
  const { _id, _creationTime, ...rest } = doc;
  return rest;
}

beforeEach(() => {
  process.env.CONVEX_SYNC_SECRET = SECRET;
});
afterEach(() => {
  delete process.env.CONVEX_SYNC_SECRET;
});

describe("POST /sync/batch", () => {
  test("writes every document, in order; a re-sent batch reports created:false", async () => {
    const t = convexTest(schema, modules);
    const batch = {
      documents: [
        ao(),
        ao({ idempotencyKey: "job-1/career-matcher", agent: "career-matcher" }),
        rec(),
      ],
    };
    const r1 = await t.fetch(...post("/sync/batch", batch));
    expect(r1.status).toBe(200);
    const { results } = await r1.json();
    expect(results).toHaveLength(3);
    for (const r of results) expect(r).toMatchObject({ status: 200, created: true });
    const r2 = await t.fetch(...post("/sync/batch", batch));
    expect((await r2.json()).results).toEqual(
      results.map((r: any) => ({ status: 200, id: r.id, created: false })),
    );
    const outputs = await t.run((ctx) => ctx.db.query("agentOutputs").collect());
    expect(outputs.map((d) => d.agent)).toEqual(["profile-analyzer", "career-matcher"]);
    expect(outputs[0]._id).toBe(results[0].id);
    const recs = await t.run((ctx) => ctx.db.query("careerRecommendations").collect());
    expect(recs).toHaveLength(1);
    expect(recs[0]._id).toBe(results[2].id);
  });

  test("stores exactly what the single-document actions store", async () => {
    const single = convexTest(schema, modules);
    await single.fetch(...post("/agent-outputs", agentOutput({ extra: "ignored", traceId: null })));
    await single.fetch(...post("/career-recommendations", careerRecommendations({ reason: null })));
    const batched = convexTest(schema, modules);
    const res = await batched.fetch(
      ...post("/sync/batch", { documents: [ao({ extra: "ignored", traceId: null }), rec({ reason: null })] }),
    );
    expect(res.status).toBe(200);
    for (const table of ["agentOutputs", "careerRecommendations"] as const) {
      const a = await single.run((ctx) => ctx.db.query(table).collect());
      const b = await batched.run((ctx) => ctx.db.query(table).collect());
      expect(b.map(strip)).toEqual(a.map(strip));
    }
  });

  test("a bad document gets its own error; the good ones are written", async () => {
    const t = convexTest(schema, modules);
    await t.fetch(...post("/agent-outputs", agentOutput({ idempotencyKey: "taken", jobId: "job-9" })));
    const bad = careerRecommendations({ idempotencyKey: "job-2" }) as any;
    bad.recommendations[0].score = 1.5;
    const res = await t.fetch(
      ...post("/sync/batch", {
        documents: [
          ao({ idempotencyKey: "job-1/profile-analyzer" }),
          { table: "careerRecommendations", document: bad },
          ao({ idempotencyKey: "job-1/x", output: { $set: 1 } }),
          ao({ idempotencyKey: "taken" }),
          { table: "users", document: {} },
          "nope",
          ao({ idempotencyKey: "job-1/big", output: { blob: "x".repeat(1024 * 1024) } }),
          rec({ idempotencyKey: "job-1" }),
        ],
      }),
    );
    expect(res.status).toBe(200);
    const { results } = await res.json();
    expect(results).toHaveLength(8);
    expect(results[0]).toMatchObject({ status: 200, created: true });
    expect(results[1]).toEqual({
      status: 400,
      error: "invalid_body",
      reason: "recommendations[0].score: must be <= 1",
    });
    expect(results[2]).toEqual({
      status: 400,
      error: "invalid_body",
      reason: "output.$set: field names must not start with '$'",
    });
    expect(results[3]).toMatchObject({ status: 409, error: "idempotency_conflict" });
    expect(results[4]).toMatchObject({ status: 400, reason: expect.stringContaining("documents[4].table") });
    expect(results[5]).toMatchObject({ status: 400, reason: "documents[5]: must be an object" });
    expect(results[6]).toMatchObject({ status: 413, error: "payload_too_large" });
    expect(results[7]).toMatchObject({ status: 200, created: true });
    const outputs = await t.run((ctx) => ctx.db.query("agentOutputs").collect());
    expect(outputs.map((d) => d.idempotencyKey).sort()).toEqual(["job-1/profile-analyzer", "taken"]);
    const recs = await t.run((ctx) => ctx.db.query("careerRecommendations").collect());
    expect(recs.map((d) => d.idempotencyKey)).toEqual(["job-1"]);
  });

  test("the same key twice in one batch -> one document", async () => {
    const t = convexTest(schema, modules);
    const res = await t.fetch(...post("/sync/batch", { documents: [ao(), ao({ durationMs: 5 })] }));
    const { results } = await res.json();
    expect(results[0]).toMatchObject({ status: 200, created: true });
    expect(results[1]).toEqual({ status: 200, id: results[0].id, created: false });
    const docs = await t.run((ctx) => ctx.db.query("agentOutputs").collect());
    expect(docs).toHaveLength(1);
    expect(docs[0].durationMs).toBe(1250);
  });

  test("an empty batch answers an empty result list", async () => {
    const t = convexTest(schema, modules);
    const res = await t.fetch(...post("/sync/batch", { documents: [] }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ results: [] });
  });

  test.each([
    ["missing header", null],
    ["wrong secret", "nope"],
  ])("%s -> 401, nothing written", async (_name, secret) => {
    const t = convexTest(schema, modules);
    const res = await t.fetch(...post("/sync/batch", { documents: [ao()] }, secret));
    expect(res.status).toBe(401);
    expect((await res.json()).error).toBe("unauthorized");
    const docs = await t.run((ctx) => ctx.db.query("agentOutputs").collect());
    expect(docs).toHaveLength(0);
  });

  test("secret not configured -> 500 not_configured", async () => {
    delete process.env.CONVEX_SYNC_SECRET;
    const t = convexTest(schema, modules);
    const res = await t.fetch(...post("/sync/batch", { documents: [ao()] }));
    expect(res.status).toBe(500);
    expect((await res.json()).error).toBe("not_configured");
  });

  test.each([
    ["not JSON", "{", "body: is not valid JSON"],
    ["no documents", {}, "documents: must be an array"],
    ["documents not an array", { documents: { a: 1 } }, "documents: must be an array"],
    ["too many documents", { documents: new Array(101).fill(0).map((_, i) => ao({ idempotencyKey: `k${i}` })) }, "documents: must have at most 100 items"],
  ])("%s -> 400", async (_name, body, reason) => {
    const t = convexTest(schema, modules);
    const res = await t.fetch(...post("/sync/batch", body));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "invalid_body", reason });
  });

  test("body over 8 MiB -> 413", async () => {
    const t = convexTest(schema, modules);
    const blob = "x".repeat(900 * 1024);
    const documents = new Array(10).fill(0).map((_, i) => ao({ idempotencyKey: `k${i}`, output: { blob } }));
    const res = await t.fetch(...post("/sync/batch", { documents }));
    expect(res.status).toBe(413);
    expect((await res.json()).error).toBe("payload_too_large");
  });

  test("upsertMany: the internal mutation returns one result per item", async () => {
    const t = convexTest(schema, modules);
    const results = await t.mutation(internal.batch.upsertMany, {
      items: [
        { table: "agentOutputs", document: agentOutput() as any },
        { table: "careerRecommendations", document: careerRecommendations() as any },
      ],
    });
    expect(results.map((r) => r.created)).toEqual([true, true]);
  });
});
