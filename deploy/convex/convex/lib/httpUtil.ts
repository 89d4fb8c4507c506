// Small helpers for the HTTP actions in ../http.ts.

export const MAX_BODY_BYTES = 1024 * 1024; // 1 MiB (one document)
// POST /sync/batch: at most this many documents and bytes per request (Convex allows
// 20 MiB per HTTP action request and 16 MiB of arguments/writes per mutation).
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;
export const MAX_BATCH_DOCUMENTS = 100;

export const SECRET_HEADER = "X-Convex-Sync-Secret";

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers },
  });
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/**
 * Compare two secrets without an early exit on the first differing byte.
 * Hashing first makes the comparison independent of the secrets' lengths.
 */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(given), sha256(expected)]);
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Checks the convex-sync service secret. Returns an error Response, or null when
 * the caller is authorized.
 */
export async function checkServiceSecret(request: Request): Promise<Response | null> {
  const expected = process.env.CONVEX_SYNC_SECRET;
  if (expected === undefined || expected === "") {
    return json(500, {
      error: "not_configured",
      reason: "CONVEX_SYNC_SECRET is not set on this deployment",
    });
  }
  const given = request.headers.get(SECRET_HEADER);
  if (given === null || given === "" || !(await secretsEqual(given, expected))) {
    return json(401, {
      error: "unauthorized",
      reason: `missing or wrong ${SECRET_HEADER} header`,
    });
  }
  return null;
}

/**
 * Reads a JSON body of at most MAX_BODY_BYTES. Returns the parsed value or an
 * error Response (413 too large, 400 not JSON).
 */
export async function readJsonBody(
  request: Request,
  maxBytes: number = MAX_BODY_BYTES,
): Promise<{ body: unknown } | { error: Response }> {
  const declared = request.headers.get("Content-Length");
  if (declared !== null && Number(declared) > maxBytes) {
    return { error: json(413, { error: "payload_too_large", limitBytes: maxBytes }) };
  }
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.byteLength > maxBytes) {
    return { error: json(413, { error: "payload_too_large", limitBytes: maxBytes }) };
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { error: json(400, { error: "invalid_body", reason: "body: is not valid UTF-8" }) };
  }
  try {
    return { body: JSON.parse(text) };
  } catch {
    return { error: json(400, { error: "invalid_body", reason: "body: is not valid JSON" }) };
  }
}
