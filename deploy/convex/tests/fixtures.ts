// Example request bodies, as convex-sync sends them.

export const SECRET = "test-sync-secret";

export function agentOutput(overrides: Record<string, unknown> = {}) {
  return {
    idempotencyKey: "evt-ao-1",
    jobId: "job-1",
    userId: "user_A",
    agent: "profile-analyzer",
    agentVersion: "1.0.0",
    status: "succeeded",
    inputSummary: { skills: 3, experience: 1 },
    output: { seniority: "mid", topSkills: ["python", "sql"], nested: { ok: true } },
    startedAt: "2025-01-31T12:00:00Z",
    finishedAt: "2025-01-31T12:00:01.250Z",
    durationMs: 1250,
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    ...overrides,
  };
}

export function careerRecommendations(overrides: Record<string, unknown> = {}) {
  return {
    idempotencyKey: "evt-rec-1",
    jobId: "job-1",
    userId: "user_A",
    status: "completed",
    recommendations: [
      {
        occupationCode: "15-1252.00",
        title: "Software Developers",
        score: 0.87,
        rank: 1,
        explanation: "Your Python and SQL experience matches most of the tasks.",
        matchedSkills: ["python", "sql"],
        skillGaps: ["kubernetes"],
        wages: { annualMedian: 132270, hourlyMedian: 63.59, year: 2024 },
      },
      {
        occupationCode: "15-2051.00",
        title: "Data Scientists",
        score: 0.74,
        rank: 2,
        explanation: "Analytical work with SQL.",
        matchedSkills: ["sql"],
        skillGaps: ["statistics"],
        wages: null,
      },
    ],
    summary: "Two strong matches.",
    createdAt: "2025-01-31T12:00:05Z",
    pipelineVersion: "0.1.0",
    ...overrides,
  };
}
