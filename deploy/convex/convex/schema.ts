import { defineSchema, defineTable } from "convex/server";
import { agentOutputFields, careerRecommendationFields } from "./validators";

export default defineSchema({
  // One document per agent run, written by convex-sync from careers.agent-outputs.
  agentOutputs: defineTable(agentOutputFields)
    .index("by_idempotency_key", ["idempotencyKey"])
    .index("by_job", ["jobId"])
    .index("by_user", ["userId"])
    .index("by_user_job", ["userId", "jobId"]),
  // The final result of a job, written by convex-sync from careers.recommendations.
  careerRecommendations: defineTable(careerRecommendationFields)
    .index("by_idempotency_key", ["idempotencyKey"])
    .index("by_job", ["jobId"])
    .index("by_user", ["userId"])
    .index("by_user_job", ["userId", "jobId"]),
});
