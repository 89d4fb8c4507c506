import { WithoutSystemFields } from "convex/server";
import { Doc, Id } from "../_generated/dataModel";
import { MutationCtx } from "../_generated/server";

/** The tables convex-sync writes: each has `by_idempotency_key` and userId/jobId. */
type SyncedTable = "agentOutputs" | "careerRecommendations";

/**
 * Insert `doc` into `table` unless a document with its idempotencyKey exists.
 * Mutations are serializable, so two concurrent deliveries of the same event
 * still produce one document. First write wins: a re-delivery never changes the
 * document. `conflict` is true when the existing document belongs to another
 * user/job (a key collision, never a legitimate re-delivery).
 */
export async function insertOnce<T extends SyncedTable>(
  ctx: MutationCtx,
  table: T,
  doc: WithoutSystemFields<Doc<T>>,
): Promise<{ id: Id<T>; created: boolean; conflict: boolean }> {
  const existing = (await ctx.db
    .query(table)
    .withIndex("by_idempotency_key", (q) =>
      q.eq("idempotencyKey", doc.idempotencyKey),
    )
    .first()) as Doc<T> | null;
  if (existing !== null) {
    const conflict =
      existing.userId !== doc.userId || existing.jobId !== doc.jobId;
    return { id: existing._id as Id<T>, created: false, conflict };
  }
  const id = await ctx.db.insert(table, doc);
  return { id, created: true, conflict: false };
}
