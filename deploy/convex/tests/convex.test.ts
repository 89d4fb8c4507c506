import { convexTest } from "convex-test";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { api, internal } from "../convex/_generated/api";
import schema from "../convex/schema";
import { agentOutput, careerRecommendations, SECRET } from "./fixtures";
import { modules } from "./modules";

const USER_A = { subject: "user_A", issuer: "https://clerk.test", tokenIdentifier: "https://clerk.test|user_A" };
const USER_B = { subject: "user_B", issuer: "https://clerk.test", tokenIdentifier: "https://clerk.test|user_B" };

function post(path: string, body: unknown, secret: string | null = SECRET): [string, RequestInit] {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (secret !== null) headers["X-Convex-Sync-Secret"] = secret;
  return [path, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) }];
}

beforeEach(() => {
  process.env.CONVEX_SYNC_SECRET = SECRET;
});
afterEach(() => {
  delete process.env.CONVEX_SYNC_SECRET;
});

describe("internal upserts", () => {
  test("same idempotencyKey twice -> one agentOutputs document", async () => {
    const t = convexTest(schema, modules);
    const body = agentOutput() as any;
    const first = await t.mutation(internal.agentOutputs.upsert, body);
    const second = await t.mutation(internal.agentOutputs.upsert, body);
    expect(first.created).toBe(true);
    expect(second).toEqual({ id: first.id, created: false, conflict: false });
    const docs = await t.run((ctx) => ctx.db.query("agentOutputs").collect());
    expect(docs).toHaveLength(1);
  });

  test("first write wins; a key reused for another user is a conflict", async () => {
    const t = convexTest(schema, modules);
    const first = await t.mutation(internal.careerRecommendations.upsert, careerRecommendations() as any);
    const changed = await t.mutation(
      internal.careerRecommendations.upsert,
      careerRecommendations({ summary: "changed" }) as any,
    );
    expect(changed).toEqual({ id: first.id, created: false, conflict: false });
    const other = await t.mutation(
      internal.careerRecommendations.upsert,
      careerRecommendations({ userId: "user_B" }) as any,
    );
    expect(other.conflict).toBe(true);
    const docs = await t.run((ctx) => ctx.db.query("careerRecommendations").collect());
    expect(docs).toHaveLength(1);
    expect(docs[0].summary).toBe("Two strong matches.");
  });
});

describe("HTTP actions", () => {
  test("GET /healthz", async () => {
    const t = convexTest(schema, modules);
    const res = await t.fetch("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  test("POST /agent-outputs creates, then reports created:false", async () => {
    const t = convexTest(schema, modules);
    const r1 = await t.fetch(...post("/agent-outputs", agentOutput()));
    expect(r1.status).toBe(200);
    const b1 = await r1.json();
    expect(b1).toMatchObject({ created: true });
    expect(typeof b1.id).toBe("string");
    const r2 = await t.fetch(...post("/agent-outputs", agentOutput()));
    expect(r2.status).toBe(200);
    expect(await r2.json()).toEqual({ id: b1.id, created: false });
    const docs = await t.run((ctx) => ctx.db.query("agentOutputs").collect());
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ jobId: "job-1", userId: "user_A", durationMs: 1250 });
  });

  test("POST /career-recommendations creates, then reports created:false", async () => {
    const t = convexTest(schema, modules);
    const r1 = await t.fetch(...post("/career-recommendations", careerRecommendations()));
    expect(r1.status).toBe(200);
    const b1 = await r1.json();
    expect(b1.created).toBe(true);
    const r2 = await t.fetch(...post("/career-recommendations", careerRecommendations()));
    expect(await r2.json()).toEqual({ id: b1.id, created: false });
    const doc: any = await t.run((ctx) => ctx.db.get(b1.id));
    expect(doc?.recommendations[0].wages).toEqual({ annualMedian: 132270, hourlyMedian: 63.59, year: 2024 });
    expect(doc?.recommendations[1].wages).toBeNull();
  });

  test("key reused for another user/job -> 409", async () => {
    const t = convexTest(schema, modules);
    await t.fetch(...post("/agent-outputs", agentOutput()));
    const res = await t.fetch(...post("/agent-outputs", agentOutput({ jobId: "job-2" })));
    expect(res.status).toBe(409);
    expect((await res.json()).error).toBe("idempotency_conflict");
  });

  test.each([
    ["missing header", null],
    ["wrong secret", "nope"],
    ["empty secret", ""],
    ["secret prefix", SECRET.slice(0, -1)],
  ])("%s -> 401", async (_name, secret) => {
    const t = convexTest(schema, modules);
    for (const path of ["/agent-outputs", "/career-recommendations"]) {
      const res = await t.fetch(...post(path, agentOutput(), secret));
      expect(res.status).toBe(401);
      expect(res.headers.get("Content-Type")).toContain("application/json");
      expect((await res.json()).error).toBe("unauthorized");
    }
    const docs = await t.run((ctx) => ctx.db.query("agentOutputs").collect());
    expect(docs).toHaveLength(0);
  });

  test("secret not configured -> 500 not_configured", async () => {
    delete process.env.CONVEX_SYNC_SECRET;
    const t = convexTest(schema, modules);
    const res = await t.fetch(...post("/agent-outputs", agentOutput()));
    expect(res.status).toBe(500);
    expect((await res.json()).error).toBe("not_configured");
  });

  test("body over 1 MiB -> 413", async () => {
    const t = convexTest(schema, modules);
    const big = agentOutput({ output: { blob: "x".repeat(1024 * 1024) } });
    const res = await t.fetch(...post("/agent-outputs", big));
    expect(res.status).toBe(413);
    expect((await res.json()).error).toBe("payload_too_large");
  });

  test.each([
    ["/agent-outputs", "not json", "body"],
    ["/agent-outputs", [], "body"],
    ["/agent-outputs", agentOutput({ idempotencyKey: undefined }), "idempotencyKey: is required"],
    ["/agent-outputs", agentOutput({ jobId: 42 }), "jobId: must be a string"],
    ["/agent-outputs", agentOutput({ userId: "  " }), "userId: must not be empty"],
    ["/agent-outputs", agentOutput({ agent: "nope" }), "agent: must be one of"],
    ["/agent-outputs", agentOutput({ status: "done" }), "status: must be one of"],
    ["/agent-outputs", agentOutput({ startedAt: "yesterday" }), "startedAt: must be an ISO 8601"],
    ["/agent-outputs", agentOutput({ finishedAt: "2025-01-31T12:00:00" }), "finishedAt: must be an ISO 8601"],
    ["/agent-outputs", agentOutput({ durationMs: -1 }), "durationMs: must be >= 0"],
    ["/agent-outputs", agentOutput({ output: undefined }), "output: is required"],
    ["/agent-outputs", agentOutput({ output: { $bad: 1 } }), "output.$bad"],
    ["/agent-outputs", agentOutput({ output: null }), "output: must be a JSON object"],
    ["/agent-outputs", agentOutput({ output: { _id: "x" } }), "output._id: field names must not start with '_'"],
    ["/agent-outputs", agentOutput({ inputSummary: { skills: ["Python"] } }), "inputSummary.skills: must be a string, number, boolean or null"],
    ["/agent-outputs", agentOutput({ inputSummary: 3 }), "inputSummary: must be a JSON object"],
    ["/agent-outputs", agentOutput({ inputSummary: { "é": 1 } }), "inputSummary: field name"],
    ["/agent-outputs", agentOutput({ idempotencyKey: "k".repeat(300) }), "idempotencyKey: must be at most"],
    ["/career-recommendations", careerRecommendations({ recommendations: "x" }), "recommendations: must be an array"],
    ["/career-recommendations", careerRecommendations({ status: "ok" }), "status: must be one of"],
    ["/career-recommendations", careerRecommendations({ createdAt: 5 }), "createdAt: must be a string"],
    [
      "/career-recommendations",
      careerRecommendations({ recommendations: [{ ...careerRecommendations().recommendations[0], score: 1.5 }] }),
      "recommendations[0].score: must be <= 1",
    ],
    [
      "/career-recommendations",
      careerRecommendations({ recommendations: [{ ...careerRecommendations().recommendations[0], rank: 1.5 }] }),
      "recommendations[0].rank: must be an integer",
    ],
    [
      "/career-recommendations",
      careerRecommendations({ recommendations: [{ ...careerRecommendations().recommendations[0], occupationCode: "dev" }] }),
      "recommendations[0].occupationCode",
    ],
    [
      "/career-recommendations",
      careerRecommendations({ recommendations: [{ ...careerRecommendations().recommendations[0], matchedSkills: [1] }] }),
      "recommendations[0].matchedSkills[0]: must be a string",
    ],
    [
      "/career-recommendations",
      careerRecommendations({ recommendations: [{ ...careerRecommendations().recommendations[0], wages: { year: "2024" } }] }),
      "recommendations[0].wages.year: must be a finite number",
    ],
  ])("POST %s with bad body -> 400 (%#)", async (path, body, reason) => {
    const t = convexTest(schema, modules);
    const res = await t.fetch(...post(path, body));
    expect(res.status).toBe(400);
    const payload = await res.json();
    expect(payload.error).toBe("invalid_body");
    expect(payload.reason).toContain(reason);
  });

  test("unknown fields are ignored, optional fields may be null", async () => {
    const t = convexTest(schema, modules);
    const res = await t.fetch(
      ...post("/career-recommendations", careerRecommendations({ extra: 1, traceId: null, summary: null })),
    );
    expect(res.status).toBe(200);
    const { id } = await res.json();
    const doc: any = await t.run((ctx) => ctx.db.get(id));
    expect(doc.extra).toBeUndefined();
    expect("traceId" in doc).toBe(false);
  });

  test("accepts what pydantic emits: microseconds, +00:00, empty text, null wage fields", async () => {
    const t = convexTest(schema, modules);
    const ao = await t.fetch(
      ...post(
        "/agent-outputs",
        agentOutput({ startedAt: "2025-01-31T12:00:00.123456+00:00", finishedAt: "2025-01-31T12:00:01.5Z", traceId: "" }),
      ),
    );
    expect(ao.status).toBe(200);
    const rec = careerRecommendations().recommendations[0];
    const res = await t.fetch(
      ...post(
        "/career-recommendations",
        careerRecommendations({
          status: "needs_more_information",
          summary: "",
          reason: "Add at least one skill.",
          recommendations: [{ ...rec, explanation: "", wages: { annualMedian: null, annualMean: null, hourlyMedian: 20.5, year: null } }],
        }),
      ),
    );
    expect(res.status).toBe(200);
    const doc: any = await t.run(async (ctx) => ctx.db.query("careerRecommendations").first());
    expect(doc.recommendations[0].wages).toEqual({ hourlyMedian: 20.5 });
    expect(doc.summary).toBe("");
  });

  test("wrong method or path -> 404", async () => {
    const t = convexTest(schema, modules);
    expect((await t.fetch("/agent-outputs")).status).toBe(404);
    expect((await t.fetch("/nope", { method: "POST" })).status).toBe(404);
  });
});

describe("queries for the frontend", () => {
  async function seed() {
    const t = convexTest(schema, modules);
    await t.fetch(...post("/agent-outputs", agentOutput()));
    await t.fetch(...post("/agent-outputs", agentOutput({ idempotencyKey: "evt-ao-2", agent: "career-matcher" })));
    await t.fetch(...post("/agent-outputs", agentOutput({ idempotencyKey: "evt-ao-3", jobId: "job-B", userId: "user_B" })));
    await t.fetch(...post("/career-recommendations", careerRecommendations()));
    await t.fetch(
      ...post("/career-recommendations", careerRecommendations({ idempotencyKey: "evt-rec-B", jobId: "job-B", userId: "user_B" })),
    );
    return t;
  }

  test("listByJob returns only the caller's outputs", async () => {
    const t = await seed();
    const mine = await t.withIdentity(USER_A).query(api.agentOutputs.listByJob, { jobId: "job-1" });
    expect(mine.map((d) => d.agent).sort()).toEqual(["career-matcher", "profile-analyzer"]);
    expect(mine.every((d) => d.userId === "user_A")).toBe(true);
    // B asking for A's job, and A asking for B's job: nothing.
    expect(await t.withIdentity(USER_B).query(api.agentOutputs.listByJob, { jobId: "job-1" })).toEqual([]);
    expect(await t.withIdentity(USER_A).query(api.agentOutputs.listByJob, { jobId: "job-B" })).toEqual([]);
  });

  test("getByJob returns the caller's recommendations, null for others", async () => {
    const t = await seed();
    const doc = await t.withIdentity(USER_A).query(api.careerRecommendations.getByJob, { jobId: "job-1" });
    expect(doc?.userId).toBe("user_A");
    expect(doc?.recommendations).toHaveLength(2);
    expect(await t.withIdentity(USER_B).query(api.careerRecommendations.getByJob, { jobId: "job-1" })).toBeNull();
    expect(await t.withIdentity(USER_A).query(api.careerRecommendations.getByJob, { jobId: "nope" })).toBeNull();
  });

  test("anonymous callers get [] / null", async () => {
    const t = await seed();
    expect(await t.query(api.agentOutputs.listByJob, { jobId: "job-1" })).toEqual([]);
    expect(await t.query(api.careerRecommendations.getByJob, { jobId: "job-1" })).toBeNull();
    expect(await t.query(api.careerRecommendations.listMine, {})).toEqual([]);
  });

  test("listMine returns only the caller's documents", async () => {
    const t = await seed();
    const mine = await t.withIdentity(USER_B).query(api.careerRecommendations.listMine, { limit: 10 });
    expect(mine.map((d) => d.jobId)).toEqual(["job-B"]);
  });
});
