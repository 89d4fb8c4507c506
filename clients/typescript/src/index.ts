/**
 * A typed client for the career-agents ingest API.
 *
 * Types come from `schema.d.ts`, which openapi-typescript generates from the committed
 * `docs/openapi.json` (`make openapi-write`); requests go through openapi-fetch, so paths,
 * parameters, bodies and responses are all checked by the compiler.
 *
 *     const api = createIngestClient({ baseUrl: "http://127.0.0.1:8000", getToken });
 *     const { jobId } = await api.analyze(profile);
 *     const final = await api.followJob(jobId, { onStatus: (job) => render(job) });
 */
import createClient, { type Client } from "openapi-fetch";

import { followJob, type FollowOptions } from "./events.js";
import type { components, paths } from "./schema.js";

export type { components, paths } from "./schema.js";
export { followJob, parseEventStream, type FollowOptions, type ServerSentEvent } from "./events.js";

type Schemas = components["schemas"];
export type ProfileSubmission = Schemas["ProfileSubmission"];
export type Experience = Schemas["Experience"];
export type Education = Schemas["Education"];
export type AnalyzeAccepted = Schemas["AnalyzeAccepted"];
export type JobView = Schemas["JobView"];
export type JobStatus = Schemas["JobStatus"];
export type Recommendation = Schemas["Recommendation"];
export type Wages = Schemas["Wages"];
export type Problem = Schemas["Problem"];

/** The states after which a job never changes again. */
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set<JobStatus>([
  "completed",
  "needs_more_information",
  "failed",
]);

/** Returns the caller's current session token, as Clerk's `getToken()` does (null: signed out). */
export type GetToken = () => Promise<string | null>;

export interface IngestClientOptions {
  /** e.g. `http://127.0.0.1:8000` under `make dev`, your API's origin in production. */
  baseUrl: string;
  /** Called before every request, so an expired token (Clerk's last ~60 s) is never reused. */
  getToken: GetToken;
  fetch?: typeof globalThis.fetch;
}

/** A non-2xx answer, with the API's `application/problem+json` body. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.name = "ProblemError";
  }
}

export interface IngestClient {
  /** The underlying openapi-fetch client (every operation, fully typed). */
  readonly raw: Client<paths>;
  /** POST /v1/agents/analyze: 202 once the job is queued. */
  analyze(profile: ProfileSubmission, options?: { idempotencyKey?: string }): Promise<AnalyzeAccepted>;
  /** GET /v1/jobs/{jobId}. */
  getJob(jobId: string): Promise<JobView>;
  /** Follows GET /v1/jobs/{jobId}/events until the job ends; resolves with its final state. */
  followJob(jobId: string, options?: Omit<FollowOptions, "baseUrl" | "getToken" | "fetch">): Promise<JobView>;
}

export function createIngestClient(options: IngestClientOptions): IngestClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const raw = createClient<paths>({ baseUrl, fetch: options.fetch });
  raw.use({
    async onRequest({ request }) {
      const token = await options.getToken();
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  });

  return {
    raw,
    async analyze(profile, { idempotencyKey } = {}) {
      const { data, error, response } = await raw.POST("/v1/agents/analyze", {
        body: profile,
        params: { header: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {} },
      });
      if (data === undefined) throw new ProblemError(response.status, error as Problem | undefined);
      return data;
    },
    async getJob(jobId) {
      const { data, error, response } = await raw.GET("/v1/jobs/{jobId}", {
        params: { path: { jobId } },
      });
      if (data === undefined) throw new ProblemError(response.status, error as Problem | undefined);
      return data;
    },
    followJob(jobId, follow = {}) {
      return followJob(jobId, { ...follow, baseUrl, getToken: options.getToken, fetch: options.fetch });
    },
  };
}
