import { Infer, v } from "convex/values";
import { Id } from "./_generated/dataModel";
import { internalMutation, MutationCtx, query } from "./_generated/server";
import {
  careerRecommendationDocument,
  careerRecommendationFields,
} from "./validators";

const careerRecommendationArgs = v.object(careerRecommendationFields);

/** The upsert itself, shared by `upsert` and the batch mutation (batch.ts). */
export async function upsertCareerRecommendations(
  ctx: MutationCtx,
  args: Infer<typeof careerRecommendationArgs>,
): Promise<{ id: Id<"careerRecommendations">; created: boolean; conflict: boolean }> {
  const existing = await ctx.db
    .query("careerRecommendations")
    .withIndex("by_idempotency_key", (q) =>
      q.eq("idempotencyKey", args.idempotencyKey),
    )
    .first();
  if (existing !== null) {
    const conflict =
      existing.userId !== args.userId || existing.jobId !== args.jobId;
    return { id: existing._id, created: false, conflict };
  }
  const id = await ctx.db.insert("careerRecommendations", args);
  return { id, created: true, conflict: false };
}

/**
 * Insert the final recommendations of a job unless a document with the same
 * idempotencyKey exists (first write wins; see agentOutputs.upsert).
 */
export const upsert = internalMutation({
  args: careerRecommendationFields,
  returns: v.object({
    id: v.id("careerRecommendations"),
    created: v.boolean(),
    conflict: v.boolean(),
  }),
  handler: (ctx, args) => upsertCareerRecommendations(ctx, args),
});

/**
 * The signed-in user's recommendations for one job (the latest document if
 * there were several), or null: when signed out, when the job belongs to
 * another user, or while the job has not finished yet.
 */
export const getByJob = query({
  args: { jobId: v.string() },
  returns: v.union(careerRecommendationDocument, v.null()),
  handler: async (ctx, { jobId }) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity === null) {
      return null;
    }
    return await ctx.db
      .query("careerRecommendations")
      .withIndex("by_user_job", (q) =>
        q.eq("userId", identity.subject).eq("jobId", jobId),
      )
      .order("desc")
      .first();
  },
});

/**
 * The signed-in user's most recent recommendation documents, newest first
 * (default 20, at most 100). Empty when signed out.
 */
export const listMine = query({
  args: { limit: v.optional(v.number()) },
  returns: v.array(careerRecommendationDocument),
  handler: async (ctx, { limit }) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity === null) {
      return [];
    }
    const n = Math.max(1, Math.min(100, Math.floor(limit ?? 20)));
    return await ctx.db
      .query("careerRecommendations")
      .withIndex("by_user", (q) => q.eq("userId", identity.subject))
      .order("desc")
      .take(n);
  },
});
