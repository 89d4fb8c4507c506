// Compile-time tests: the generated types accept the bodies the API accepts, and refuse
// what it refuses. `tsc --noEmit` (make test-client) fails if either stops being true.
import type { AnalyzeAccepted, JobStatus, JobView, ProfileSubmission } from "../src/index.js";
import { createIngestClient } from "../src/index.js";
import exampleProfile from "../../../examples/profile.json" with { type: "json" };

// The repository's example profile, as a frontend would send it.
export const example: ProfileSubmission = exampleProfile;

// Only the required field: everything with a server-side default may be left out.
export const minimal: ProfileSubmission = { summary: "Nurse curious about informatics." };

// Nested objects: only `title`/`startDate` and `degree` are required.
export const sparse: ProfileSubmission = {
  summary: "Career changer",
  experience: [{ title: "Teacher", startDate: "2015-09" }],
  education: [{ degree: "BA" }],
};

// @ts-expect-error `summary` is required
export const noSummary: ProfileSubmission = { skills: ["Python"] };

// @ts-expect-error unknown fields are rejected by the API (422), and by the type
export const typo: ProfileSubmission = { summary: "x", skils: ["Python"] };

// @ts-expect-error an experience needs a start date
export const noStart: ProfileSubmission = { summary: "x", experience: [{ title: "Chef" }] };

// The job status is a named union, exhaustively switchable.
export function label(status: JobStatus): string {
  switch (status) {
    case "queued":
    case "analyzing":
    case "matching":
      return "running";
    case "completed":
    case "needs_more_information":
    case "failed":
      return "done";
  }
}

// Responses: always-present fields are not optional.
export function firstTitle(job: JobView): string | undefined {
  const first = job.recommendations?.[0];
  return first ? `${first.rank}. ${first.title} (${first.matchedSkills.join(", ")})` : undefined;
}

export async function submit(token: string): Promise<AnalyzeAccepted> {
  const api = createIngestClient({ baseUrl: "http://127.0.0.1:8000", getToken: async () => token });
  const accepted = await api.analyze(minimal, { idempotencyKey: "5f2b7f0e" });
  const final = await api.followJob(accepted.jobId, { onStatus: (job) => label(job.status) });
  firstTitle(final);
  // Raw, fully typed calls are available too.
  const { data } = await api.raw.GET("/v1/jobs/{jobId}", { params: { path: { jobId: accepted.jobId } } });
  return data ? { jobId: data.jobId, status: data.status, links: data.links } : accepted;
}
