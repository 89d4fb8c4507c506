/* eslint-disable */
/**
 * Generated `api` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type {
  ApiFromModules,
  FilterApi,
  FunctionReference,
} from "convex/server";
import type * as agentOutputs from "../agentOutputs.js";
import type * as batch from "../batch.js";
import type * as careerRecommendations from "../careerRecommendations.js";
import type * as http from "../http.js";
import type * as lib_httpUtil from "../lib/httpUtil.js";
import type * as lib_insertOnce from "../lib/insertOnce.js";
import type * as lib_validation from "../lib/validation.js";
import type * as validators from "../validators.js";

/**
 * A utility for referencing Convex functions in your app's API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = api.myModule.myFunction;
 * ```
 */
declare const fullApi: ApiFromModules<{
  agentOutputs: typeof agentOutputs;
  batch: typeof batch;
  careerRecommendations: typeof careerRecommendations;
  http: typeof http;
  "lib/httpUtil": typeof lib_httpUtil;
  "lib/insertOnce": typeof lib_insertOnce;
  "lib/validation": typeof lib_validation;
  validators: typeof validators;
}>;
export declare const api: FilterApi<
  typeof fullApi,
  FunctionReference<any, "public">
>;
export declare const internal: FilterApi<
  typeof fullApi,
  FunctionReference<any, "internal">
>;
