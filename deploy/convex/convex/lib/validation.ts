// Hand-written request-body validation for the HTTP actions. HTTP actions parse
// their own input (Convex does not validate it), and a body that the internal
// mutation would reject must be answered with a 400 naming the field, never a
// 500 (which convex-sync would retry forever).
import { AGENTS, AGENT_OUTPUT_STATUSES, RECOMMENDATION_STATUSES } from "../validators";

export type Result<T> = { ok: true; value: T } | { ok: false; reason: string };

export class ValidationError extends Error {}

const ISO_8601 =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const SOC_CODE = /^\d{2}-\d{4}(\.\d{2})?$/;

// Limits (documents are capped at 1 MiB by Convex, bodies at 1 MiB by http.ts).
export const LIMITS = {
  keyLength: 256,
  idLength: 256,
  versionLength: 64,
  traceIdLength: 128,
  recommendations: 50,
  titleLength: 300,
  explanationLength: 4000,
  skills: 100,
  skillLength: 200,
  summaryLength: 10000,
  reasonLength: 2000,
  anyDepth: 32,
  anyArrayLength: 8192,
  anyObjectFields: 1024,
  fieldNameLength: 1024,
} as const;

type Obj = Record<string, unknown>;

function fail(reason: string): never {
  throw new ValidationError(reason);
}

function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(o: Obj, field: string, max: number, path = field, allowEmpty = false): string {
  const value = o[field];
  if (value === undefined || value === null) fail(`${path}: is required`);
  if (typeof value !== "string") fail(`${path}: must be a string`);
  if (!allowEmpty && value.trim().length === 0) fail(`${path}: must not be empty`);
  if (value.length > max) fail(`${path}: must be at most ${max} characters`);
  return value;
}

/** Optional free text: absent or null means "none"; an empty string is kept. */
function optText(o: Obj, field: string, max: number, path = field): string | undefined {
  if (o[field] === undefined || o[field] === null) return undefined;
  return str(o, field, max, path, true);
}

/** Optional identifier: absent, null or "" means "none". */
function optId(o: Obj, field: string, max: number, path = field): string | undefined {
  if (o[field] === undefined || o[field] === null || o[field] === "") return undefined;
  return str(o, field, max, path);
}

function oneOf<T extends string>(o: Obj, field: string, allowed: readonly T[], path = field): T {
  const value = o[field];
  if (value === undefined || value === null) fail(`${path}: is required`);
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    fail(`${path}: must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`);
  }
  return value as T;
}

function timestamp(o: Obj, field: string, path = field): string {
  const value = str(o, field, 64, path);
  if (!ISO_8601.test(value) || Number.isNaN(Date.parse(value))) {
    fail(`${path}: must be an ISO 8601 timestamp with a time zone, e.g. 2025-01-31T12:00:00Z`);
  }
  return value;
}

function num(
  o: Obj,
  field: string,
  opts: { min?: number; max?: number; integer?: boolean },
  path = field,
): number {
  const value = o[field];
  if (value === undefined || value === null) fail(`${path}: is required`);
  if (typeof value !== "number" || !Number.isFinite(value)) fail(`${path}: must be a finite number`);
  if (opts.integer && !Number.isInteger(value)) fail(`${path}: must be an integer`);
  if (opts.min !== undefined && value < opts.min) fail(`${path}: must be >= ${opts.min}`);
  if (opts.max !== undefined && value > opts.max) fail(`${path}: must be <= ${opts.max}`);
  return value;
}

function strArray(o: Obj, field: string, maxItems: number, maxLen: number, path = field): string[] {
  const value = o[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(`${path}: must be an array of strings`);
  if (value.length > maxItems) fail(`${path}: must have at most ${maxItems} items`);
  return value.map((item, i) => {
    if (typeof item !== "string") fail(`${path}[${i}]: must be a string`);
    if (item.length > maxLen) fail(`${path}[${i}]: must be at most ${maxLen} characters`);
    return item;
  });
}

/** A JSON value Convex can store: checks field names, nesting and sizes. */
function storable(value: unknown, path: string, depth = 0): unknown {
  if (depth > LIMITS.anyDepth) fail(`${path}: nested deeper than ${LIMITS.anyDepth} levels`);
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) fail(`${path}: must be a finite number`);
    return value;
  }
  if (Array.isArray(value)) {
    if (value.length > LIMITS.anyArrayLength) {
      fail(`${path}: arrays may have at most ${LIMITS.anyArrayLength} items`);
    }
    return value.map((item, i) => storable(item, `${path}[${i}]`, depth + 1));
  }
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length > LIMITS.anyObjectFields) {
      fail(`${path}: objects may have at most ${LIMITS.anyObjectFields} fields`);
    }
    const out: Obj = {};
    for (const key of keys) {
      if (key.length === 0) fail(`${path}: field names must not be empty`);
      if (key.length > LIMITS.fieldNameLength) fail(`${path}: field name too long`);
      if (key.startsWith("$")) fail(`${path}.${key}: field names must not start with '$'`);
      // eslint-disable-next-line no-control-regex
      if (/[^\x20-\x7e]/.test(key)) {
        fail(`${path}: field name ${JSON.stringify(key)} must contain only printable ASCII`);
      }
      out[key] = storable(value[key], `${path}.${key}`, depth + 1);
    }
    return out;
  }
  return fail(`${path}: is not a JSON value`);
}

/** A JSON object Convex can store (the agent's own result shape). */
function objectField(o: Obj, field: string): Obj {
  if (!(field in o) || o[field] === undefined) fail(`${field}: is required (use {} for none)`);
  if (!isObject(o[field])) fail(`${field}: must be a JSON object`);
  for (const key of Object.keys(o[field] as Obj)) {
    if (key.startsWith("_")) fail(`${field}.${key}: field names must not start with '_'`);
  }
  return storable(o[field], field) as Obj;
}

/** A flat object of strings, numbers, booleans and nulls (counts and categories). */
function flatObjectField(o: Obj, field: string): Record<string, string | number | boolean | null> {
  const value = objectField(o, field);
  for (const [key, item] of Object.entries(value)) {
    if (item !== null && !["string", "number", "boolean"].includes(typeof item)) {
      fail(`${field}.${key}: must be a string, number, boolean or null`);
    }
  }
  return value as Record<string, string | number | boolean | null>;
}

function run<T>(body: unknown, parse: (o: Obj) => T): Result<T> {
  try {
    if (!isObject(body)) fail("body: must be a JSON object");
    return { ok: true, value: parse(body) };
  } catch (err) {
    if (err instanceof ValidationError) return { ok: false, reason: err.message };
    throw err;
  }
}

export type AgentOutputInput = {
  idempotencyKey: string;
  jobId: string;
  userId: string;
  agent: (typeof AGENTS)[number];
  agentVersion: string;
  status: (typeof AGENT_OUTPUT_STATUSES)[number];
  inputSummary: Record<string, string | number | boolean | null>;
  output: Record<string, unknown>;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  traceId?: string;
};

/** Validate a `POST /agent-outputs` body. Unknown fields are ignored. */
export function parseAgentOutput(body: unknown): Result<AgentOutputInput> {
  return run(body, (o) => {
    const value: AgentOutputInput = {
      idempotencyKey: str(o, "idempotencyKey", LIMITS.keyLength),
      jobId: str(o, "jobId", LIMITS.idLength),
      userId: str(o, "userId", LIMITS.idLength),
      agent: oneOf(o, "agent", AGENTS),
      agentVersion: str(o, "agentVersion", LIMITS.versionLength),
      status: oneOf(o, "status", AGENT_OUTPUT_STATUSES),
      inputSummary: flatObjectField(o, "inputSummary"),
      output: objectField(o, "output"),
      startedAt: timestamp(o, "startedAt"),
      finishedAt: timestamp(o, "finishedAt"),
      durationMs: num(o, "durationMs", { min: 0 }),
    };
    const traceId = optId(o, "traceId", LIMITS.traceIdLength);
    if (traceId !== undefined) value.traceId = traceId;
    return value;
  });
}

export type Wages = {
  annualMedian?: number;
  annualMean?: number;
  hourlyMedian?: number;
  year?: number;
};

export type RecommendationInput = {
  occupationCode: string;
  title: string;
  score: number;
  rank: number;
  explanation: string;
  matchedSkills: string[];
  skillGaps: string[];
  wages?: Wages | null;
};

export type CareerRecommendationsInput = {
  idempotencyKey: string;
  jobId: string;
  userId: string;
  status: (typeof RECOMMENDATION_STATUSES)[number];
  recommendations: RecommendationInput[];
  summary?: string;
  reason?: string;
  createdAt: string;
  pipelineVersion?: string;
  traceId?: string;
};

function wages(o: Obj, path: string): Wages | null | undefined {
  const w = o.wages;
  if (w === undefined) return undefined;
  if (w === null) return null;
  if (!isObject(w)) fail(`${path}: must be an object or null`);
  const out: Wages = {};
  for (const key of ["annualMedian", "annualMean", "hourlyMedian"] as const) {
    if (w[key] !== undefined && w[key] !== null) out[key] = num(w, key, { min: 0 }, `${path}.${key}`);
  }
  if (w.year !== undefined && w.year !== null) {
    out.year = num(w, "year", { min: 1900, max: 2200, integer: true }, `${path}.year`);
  }
  return out;
}

function recommendation(item: unknown, path: string): RecommendationInput {
  if (!isObject(item)) fail(`${path}: must be an object`);
  const code = str(item, "occupationCode", 16, `${path}.occupationCode`);
  if (!SOC_CODE.test(code)) {
    fail(`${path}.occupationCode: must be an O*NET-SOC code like "15-1252.00"`);
  }
  const value: RecommendationInput = {
    occupationCode: code,
    title: str(item, "title", LIMITS.titleLength, `${path}.title`),
    score: num(item, "score", { min: 0, max: 1 }, `${path}.score`),
    rank: num(item, "rank", { min: 1, integer: true }, `${path}.rank`),
    explanation: str(item, "explanation", LIMITS.explanationLength, `${path}.explanation`, true),
    matchedSkills: strArray(item, "matchedSkills", LIMITS.skills, LIMITS.skillLength, `${path}.matchedSkills`),
    skillGaps: strArray(item, "skillGaps", LIMITS.skills, LIMITS.skillLength, `${path}.skillGaps`),
  };
  const w = wages(item, `${path}.wages`);
  if (w !== undefined) value.wages = w;
  return value;
}

/** Validate a `POST /career-recommendations` body. Unknown fields are ignored. */
export function parseCareerRecommendations(body: unknown): Result<CareerRecommendationsInput> {
  return run(body, (o) => {
    const recs = o.recommendations;
    if (recs === undefined || recs === null) fail("recommendations: is required (use [] for none)");
    if (!Array.isArray(recs)) fail("recommendations: must be an array");
    if (recs.length > LIMITS.recommendations) {
      fail(`recommendations: must have at most ${LIMITS.recommendations} items`);
    }
    const value: CareerRecommendationsInput = {
      idempotencyKey: str(o, "idempotencyKey", LIMITS.keyLength),
      jobId: str(o, "jobId", LIMITS.idLength),
      userId: str(o, "userId", LIMITS.idLength),
      status: oneOf(o, "status", RECOMMENDATION_STATUSES),
      recommendations: recs.map((item, i) => recommendation(item, `recommendations[${i}]`)),
      createdAt: timestamp(o, "createdAt"),
    };
    const summary = optText(o, "summary", LIMITS.summaryLength);
    if (summary !== undefined) value.summary = summary;
    const reason = optText(o, "reason", LIMITS.reasonLength);
    if (reason !== undefined) value.reason = reason;
    const pipelineVersion = optId(o, "pipelineVersion", LIMITS.versionLength);
    if (pipelineVersion !== undefined) value.pipelineVersion = pipelineVersion;
    const traceId = optId(o, "traceId", LIMITS.traceIdLength);
    if (traceId !== undefined) value.traceId = traceId;
    return value;
  });
}
