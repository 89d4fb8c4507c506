// HTTP actions, served at https://<deployment>.convex.site/<path>.
//
//   POST /agent-outputs            convex-sync -> agentOutputs (upsert by idempotencyKey)
//   POST /career-recommendations   convex-sync -> careerRecommendations (upsert)
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
import { httpRouter } from "convex/server";
import { internal } from "./_generated/api";
import { httpAction } from "./_generated/server";
import { checkServiceSecret, json, readJsonBody } from "./lib/httpUtil";
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

export default http;
