import { defineSchema, defineTable } from "convex/server";
import { agentOutputFields, careerRecommendationFields } from "./validators";

// Both tables are written only by convex-sync, through the HTTP actions in http.ts.
// Indexes: by_idempotency_key for the upserts, by_user_job for the per-job queries,
// by_user for listMine. Every index is used by a function.
export default defineSchema({
  // One document per agent run, from the topic careers.agent-output.recorded.v1.
  agentOutputs: defineTable(agentOutputFields)
    .index("by_idempotency_key", ["idempotencyKey"])
    .index("by_user_job", ["userId", "jobId"]),
  // The final result of a job, from the topic careers.recommendations.ready.v1.
  careerRecommendations: defineTable(careerRecommendationFields)
    .index("by_idempotency_key", ["idempotencyKey"])
    .index("by_user", ["userId"])
    .index("by_user_job", ["userId", "jobId"]),
});
