// HTTP actions, served at https://<deployment>.convex.site/<path>.
//
//   POST /agent-outputs            convex-sync -> agentOutputs (upsert by idempotencyKey)
//   POST /career-recommendations   convex-sync -> careerRecommendations (upsert)
//   POST /sync/batch               convex-sync -> both tables, many documents per request
//   GET  /healthz                  liveness, no auth
//
// The write endpoints authenticate convex-sync by a shared secret in the
// X-Convex-Sync-Secret header (not Authorization: Convex would treat an unknown
// bearer token as a user identity). Responses are JSON:
//   200 {id, created}                          created=false: the key already existed
//   400 {error:"invalid_body", reason}          reason names the field and why
//   401 {error:"unauthorized"}                  missing/wrong secret
//   409 {error:"idempotency_conflict", id}      the key exists for another user/job
//   413 {error:"payload_too_large"}             body > 1 MiB
//   500 {error:"not_configured"}                CONVEX_SYNC_SECRET not set
// 400/401/409/413 are permanent for the caller; 5xx (and Convex's own 429/503) are retryable.
//
// POST /sync/batch takes {"documents": [{"table": "agentOutputs" | "careerRecommendations",
// "document": <the body of the single-document action>}, ...]} (at most
// MAX_BATCH_DOCUMENTS, MAX_BATCH_BYTES) and answers 200 {"results": [...]}, one result per
// document in order, each what the single-document action would have answered, with its
// status in the object: {status: 200, id, created} | {status: 400, error, reason} |
// {status: 409, error, reason, id} | {status: 413, error} | {status: 500, error, reason}.
// The valid documents are upserted in one mutation (same upserts as above); if it throws,
// each is retried in a mutation of its own so one bad document cannot fail the others.
// The request as a whole answers 400/401/413/500 like the single-document actions.
import { httpRouter } from "convex/server";
import { internal } from "./_generated/api";
import { httpAction } from "./_generated/server";
import type { ActionCtx } from "./_generated/server";
import {
  checkServiceSecret,
  json,
  MAX_BATCH_BYTES,
  MAX_BATCH_DOCUMENTS,
  MAX_BODY_BYTES,
  readJsonBody,
} from "./lib/httpUtil";
import { parseAgentOutput, parseCareerRecommendations } from "./lib/validation";

type UpsertResult = { id: string; created: boolean; conflict: boolean };

function upsertResponse(result: UpsertResult): Response {
  if (result.conflict) {
    return json(409, {
      error: "idempotency_conflict",
      reason: "idempotencyKey already used for another userId/jobId",
      id: result.id,
    });
  }
  return json(200, { id: result.id, created: result.created });
}

type BatchItem = { table: "agentOutputs"; document: any } | { table: "careerRecommendations"; document: any };
type BatchResult = { status: number } & Record<string, unknown>;

const PARSERS = {
  agentOutputs: parseAgentOutput,
  careerRecommendations: parseCareerRecommendations,
} as const;

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}

/** Validates each document of a batch: the items to upsert, or the document's error. */
function parseBatchItem(entry: unknown, i: number): BatchItem | BatchResult {
  const where = `documents[${i}]`;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    return { status: 400, error: "invalid_body", reason: `${where}: must be an object` };
  }
  const { table, document } = entry as { table?: unknown; document?: unknown };
  if (table !== "agentOutputs" && table !== "careerRecommendations") {
    return {
      status: 400,
      error: "invalid_body",
      reason: `${where}.table: must be one of "agentOutputs", "careerRecommendations"`,
    };
  }
  if (utf8Length(JSON.stringify(document) ?? "") > MAX_BODY_BYTES) {
    return { status: 413, error: "payload_too_large", limitBytes: MAX_BODY_BYTES };
  }
  const parsed = PARSERS[table](document);
  if (!parsed.ok) return { status: 400, error: "invalid_body", reason: parsed.reason };
  return { table, document: parsed.value } as BatchItem;
}

function batchResult(result: UpsertResult): BatchResult {
  if (result.conflict) {
    return {
      status: 409,
      error: "idempotency_conflict",
      reason: "idempotencyKey already used for another userId/jobId",
      id: result.id,
    };
  }
  return { status: 200, id: result.id, created: result.created };
}

/** Upserts the items in one mutation; if that throws, each in its own. */
async function upsertItems(ctx: ActionCtx, items: BatchItem[]): Promise<BatchResult[]> {
  if (items.length === 0) return [];
  try {
    const results = await ctx.runMutation(internal.batch.upsertMany, { items });
    return results.map(batchResult);
  } catch (err) {
    if (items.length === 1) {
      return [{ status: 500, error: "mutation_failed", reason: String(err).slice(0, 2000) }];
    }
  }
  const out: BatchResult[] = [];
  for (const item of items) out.push(...(await upsertItems(ctx, [item])));
  return out;
}

const http = httpRouter();

http.route({
  path: "/healthz",
  method: "GET",
  handler: httpAction(async () => json(200, { status: "ok" })),
});

http.route({
  path: "/agent-outputs",
  method: "POST",
  handler: httpAction(async (ctx, request) => {
    const denied = await checkServiceSecret(request);
    if (denied) return denied;
    const read = await readJsonBody(request);
    if ("error" in read) return read.error;
    const parsed = parseAgentOutput(read.body);
    if (!parsed.ok) return json(400, { error: "invalid_body", reason: parsed.reason });
    const result = await ctx.runMutation(internal.agentOutputs.upsert, parsed.value);
    return upsertResponse(result);
  }),
});

http.route({
  path: "/career-recommendations",
  method: "POST",
  handler: httpAction(async (ctx, request) => {
    const denied = await checkServiceSecret(request);
    if (denied) return denied;
    const read = await readJsonBody(request);
    if ("error" in read) return read.error;
    const parsed = parseCareerRecommendations(read.body);
    if (!parsed.ok) return json(400, { error: "invalid_body", reason: parsed.reason });
    const result = await ctx.runMutation(internal.careerRecommendations.upsert, parsed.value);
    return upsertResponse(result);
  }),
});

http.route({
  path: "/sync/batch",
  method: "POST",
  handler: httpAction(async (ctx, request) => {
    const denied = await checkServiceSecret(request);
    if (denied) return denied;
    const read = await readJsonBody(request, MAX_BATCH_BYTES);
    if ("error" in read) return read.error;
    const body = read.body as { documents?: unknown } | null;
    const documents = typeof body === "object" && body !== null ? body.documents : undefined;
    if (!Array.isArray(documents)) {
      return json(400, { error: "invalid_body", reason: "documents: must be an array" });
    }
    if (documents.length > MAX_BATCH_DOCUMENTS) {
      return json(400, {
        error: "invalid_body",
        reason: `documents: must have at most ${MAX_BATCH_DOCUMENTS} items`,
      });
    }
    const results: BatchResult[] = new Array(documents.length);
    const items: BatchItem[] = [];
    const positions: number[] = [];
    documents.forEach((entry, i) => {
      const parsed = parseBatchItem(entry, i);
      if ("status" in parsed) {
        results[i] = parsed;
      } else {
        items.push(parsed);
        positions.push(i);
      }
    });
    const upserted = await upsertItems(ctx, items);
    positions.forEach((position, k) => {
      results[position] = upserted[k];
    });
    return json(200, { results });
  }),
});

export default http;
