import { v } from "convex/values";
import { internalMutation, query } from "./_generated/server";
import { insertOnce } from "./lib/insertOnce";
import {
  careerRecommendationDocument,
  careerRecommendationFields,
} from "./validators";

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
  handler: (ctx, args) => insertOnce(ctx, "careerRecommendations", args),
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
