import { v } from "convex/values";
import { internalMutation } from "./_generated/server";
import { insertOnce } from "./lib/insertOnce";
import { agentOutputFields, careerRecommendationFields } from "./validators";

/** One document of a `POST /sync/batch` request, already validated by the action. */
export const batchItemValidator = v.union(
  v.object({ table: v.literal("agentOutputs"), document: v.object(agentOutputFields) }),
  v.object({
    table: v.literal("careerRecommendations"),
    document: v.object(careerRecommendationFields),
  }),
);

export const batchResultValidator = v.object({
  id: v.union(v.id("agentOutputs"), v.id("careerRecommendations")),
  created: v.boolean(),
  conflict: v.boolean(),
});

/**
 * The upserts of a `POST /sync/batch` request in one transaction: each document
 * exactly as `agentOutputs.upsert` / `careerRecommendations.upsert` would write it
 * (same helper, same first-write-wins idempotency), results in the items' order.
 * A key that appears twice in one batch is written once (the second sees the first).
 */
export const upsertMany = internalMutation({
  args: { items: v.array(batchItemValidator) },
  returns: v.array(batchResultValidator),
  handler: async (ctx, { items }) => {
    const results = [];
    for (const item of items) {
      results.push(
        item.table === "agentOutputs"
          ? await insertOnce(ctx, "agentOutputs", item.document)
          : await insertOnce(ctx, "careerRecommendations", item.document),
      );
    }
    return results;
  },
});
