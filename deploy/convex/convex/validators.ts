// Field validators shared by the schema (schema.ts) and the internal upsert
// mutations, so the two can never drift apart.
import { v } from "convex/values";

export const AGENTS = ["profile-analyzer", "career-matcher"] as const;
export const AGENT_OUTPUT_STATUSES = ["succeeded", "failed"] as const;
export const RECOMMENDATION_STATUSES = [
  "completed",
  "needs_more_information",
  "failed",
] as const;

export const agentOutputFields = {
  idempotencyKey: v.string(),
  jobId: v.string(),
  /** Clerk user id (`sub` of the user's session token). */
  userId: v.string(),
  agent: v.union(v.literal("profile-analyzer"), v.literal("career-matcher")),
  agentVersion: v.string(),
  status: v.union(v.literal("succeeded"), v.literal("failed")),
  inputSummary: v.any(),
  output: v.any(),
  /** ISO 8601 timestamps. */
  startedAt: v.string(),
  finishedAt: v.string(),
  durationMs: v.number(),
  traceId: v.optional(v.string()),
};

export const wagesValidator = v.object({
  annualMedian: v.optional(v.number()),
  annualMean: v.optional(v.number()),
  hourlyMedian: v.optional(v.number()),
  year: v.optional(v.number()),
});

export const recommendationValidator = v.object({
  /** O*NET-SOC code, e.g. "15-1252.00". */
  occupationCode: v.string(),
  title: v.string(),
  /** 0..1 */
  score: v.number(),
  /** 1-based */
  rank: v.number(),
  explanation: v.string(),
  matchedSkills: v.array(v.string()),
  skillGaps: v.array(v.string()),
  wages: v.optional(v.union(wagesValidator, v.null())),
});

export const careerRecommendationFields = {
  idempotencyKey: v.string(),
  jobId: v.string(),
  userId: v.string(),
  status: v.union(
    v.literal("completed"),
    v.literal("needs_more_information"),
    v.literal("failed"),
  ),
  recommendations: v.array(recommendationValidator),
  summary: v.optional(v.string()),
  reason: v.optional(v.string()),
  createdAt: v.string(),
  pipelineVersion: v.optional(v.string()),
  traceId: v.optional(v.string()),
};
