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

/**
 * What went into an agent run, as counts, sizes, flags and categories only (never
 * profile text): a flat object of scalars, e.g. `{"skills": 9, "hasGoals": true}`.
 */
export const inputSummaryValidator = v.record(
  v.string(),
  v.union(v.string(), v.number(), v.boolean(), v.null()),
);

/**
 * The agent's result, a JSON object whose shape belongs to the agent (and its version):
 * profile-analyzer stores its ProfileAnalysis (`skills`, `seniority`, `domains`, ...),
 * career-matcher `{count, recommendations}`. Kept open so that an agent can add fields
 * without a schema change.
 */
export const agentOutputValueValidator = v.record(v.string(), v.any());

export const agentOutputFields = {
  idempotencyKey: v.string(),
  jobId: v.string(),
  /** Clerk user id (`sub` of the user's session token). */
  userId: v.string(),
  agent: v.union(v.literal("profile-analyzer"), v.literal("career-matcher")),
  agentVersion: v.string(),
  status: v.union(v.literal("succeeded"), v.literal("failed")),
  inputSummary: inputSummaryValidator,
  output: agentOutputValueValidator,
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

/** A stored agentOutputs document (what the public queries return). */
export const agentOutputDocument = v.object({
  _id: v.id("agentOutputs"),
  _creationTime: v.number(),
  ...agentOutputFields,
});

/** A stored careerRecommendations document (what the public queries return). */
export const careerRecommendationDocument = v.object({
  _id: v.id("careerRecommendations"),
  _creationTime: v.number(),
  ...careerRecommendationFields,
});
