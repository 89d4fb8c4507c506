import { v } from "convex/values";
import { internalMutation, query } from "./_generated/server";
import { insertOnce } from "./lib/insertOnce";
import { agentOutputDocument, agentOutputFields } from "./validators";

/**
 * Insert an agent output unless a document with the same idempotencyKey exists.
 * Called by the `POST /agent-outputs` HTTP action (convex-sync); mutations are
 * serializable, so two concurrent deliveries of the same event still produce
 * one document. First write wins: a re-delivery never changes the document.
 * `conflict` is true when the existing document belongs to another user/job
 * (a key collision, never a legitimate re-delivery).
 */
export const upsert = internalMutation({
  args: agentOutputFields,
  returns: v.object({
    id: v.id("agentOutputs"),
    created: v.boolean(),
    conflict: v.boolean(),
  }),
  handler: (ctx, args) => insertOnce(ctx, "agentOutputs", args),
});

/**
 * The signed-in user's agent outputs for one job, oldest first.
 * Unauthenticated callers (and other users' jobs) get an empty list.
 */
export const listByJob = query({
  args: { jobId: v.string() },
  returns: v.array(agentOutputDocument),
  handler: async (ctx, { jobId }) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity === null) {
      return [];
    }
    return await ctx.db
      .query("agentOutputs")
      .withIndex("by_user_job", (q) =>
        q.eq("userId", identity.subject).eq("jobId", jobId),
      )
      .take(100);
  },
});
