// The local Convex stand-in: serves the functions in ../convex over real HTTP
// by wrapping one in-memory convex-test instance. A dev/test tool, NOT a
// production backend: no persistence, no reactivity/websockets, one process.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { convexTest } from "convex-test";
import { makeFunctionReference } from "convex/server";
import { ConvexError, convexToJson, jsonToConvex, type Value } from "convex/values";
import schema from "../convex/schema";
import { AuthError, makeVerifier, type Identity, type TokenVerifier } from "./auth";
import { convexModules, modulePathIndex } from "./modules";

const CONVEX_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "convex");
/** Hard cap on what the stand-in buffers; the HTTP actions enforce their own 1 MiB. */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
/** Convex's HTTP status for "the function ran and threw". */
const STATUS_UDF_FAILED = 560;

export type Fault = {
  status: number; // HTTP status to answer with; 0 = reset the connection (transport error)
  remaining: number;
  retryAfter?: number;
  delayMs?: number;
  paths?: string[];
};

export type StandinOptions = {
  port?: number;
  host?: string;
  log?: (line: string) => void;
  // The /_standin/* routes (read every document, inject faults, reset) need no auth:
  // off unless explicitly enabled (CONVEX_STANDIN_ADMIN=1 in dev and tests).
  admin?: boolean;
};

export type Standin = {
  server: Server;
  url: string;
  close: () => Promise<void>;
};

/** A function-level failure, answered like Convex: HTTP 560 {status: "error"}. */
class UdfError extends Error {}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.error ?? status));
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > MAX_REQUEST_BYTES) {
      reject(new HttpError(413, { error: "payload_too_large", limitBytes: MAX_REQUEST_BYTES }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        reject(new HttpError(413, { error: "payload_too_large", limitBytes: MAX_REQUEST_BYTES }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function parseJson(buf: Buffer): any {
  try {
    return JSON.parse(buf.toString("utf8"));
  } catch {
    throw new HttpError(400, { code: "BadJsonBody", message: "request body is not valid JSON" });
  }
}

function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!match) throw new HttpError(401, { error: "unauthorized", reason: "Authorization must be 'Bearer <token>'" });
  return match[1].trim();
}

function newInstance() {
  return convexTest(schema, convexModules(CONVEX_DIR));
}

export async function startStandin(opts: StandinOptions = {}): Promise<Standin> {
  const host = opts.host ?? "127.0.0.1";
  const admin = opts.admin ?? false;
  const log = opts.log ?? ((line: string) => process.stdout.write(line + "\n"));
  const verifier: TokenVerifier | null = await makeVerifier();
  const moduleIndex = modulePathIndex(convexModules(CONVEX_DIR));
  const tableNames = Object.keys((schema as any).tables);

  let t = newInstance();
  let faults: Fault[] = [];

  async function identityFor(req: IncomingMessage): Promise<Identity | null> {
    const token = bearerToken(req);
    if (token === null) return null;
    if (verifier === null) {
      throw new HttpError(401, {
        error: "unauthorized",
        reason: "token given but no CLERK_JWT_KEY / CLERK_JWKS_URL / CLERK_JWKS_FILE configured",
      });
    }
    try {
      return await verifier(token);
    } catch (err) {
      if (err instanceof AuthError) throw new HttpError(401, { error: "unauthorized", reason: err.message });
      throw err;
    }
  }

  /** Resolves "module:fn" (or "module" for the default export) to a PUBLIC function of the kind. */
  async function publicFunction(path: unknown, kind: "query" | "mutation"): Promise<string> {
    if (typeof path !== "string" || path === "") {
      throw new HttpError(400, { code: "BadRequest", message: "`path` must be a string like 'module:function'" });
    }
    const [modulePath, exportName = "default"] = path.replace(/\.(js|ts)(?=:|$)/, "").split(":");
    const load = moduleIndex.get(modulePath);
    const fn = load && !modulePath.startsWith("_generated") ? (await load())[exportName] : undefined;
    const isKind = kind === "query" ? fn?.isQuery : fn?.isMutation;
    if (!fn || !isKind || !fn.isPublic) {
      throw new UdfError(`Could not find public function for '${modulePath}:${exportName}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`);
    }
    return `${modulePath}:${exportName}`;
  }

  async function callFunction(req: IncomingMessage, res: ServerResponse, kind: "query" | "mutation") {
    const identity = await identityFor(req);
    const body = parseJson(await readBody(req));
    if (typeof body !== "object" || body === null) {
      throw new HttpError(400, { code: "BadJsonBody", message: "body must be a JSON object" });
    }
    let rawArgs = body.args ?? {};
    if (Array.isArray(rawArgs)) rawArgs = rawArgs[0] ?? {}; // ConvexHttpClient sends [args]
    try {
      const name = await publicFunction(body.path, kind);
      const args = jsonToConvex(rawArgs) as Record<string, Value>;
      const accessor = identity ? t.withIdentity(identity) : t;
      const ref = makeFunctionReference<typeof kind>(name) as any;
      const value = kind === "query" ? await accessor.query(ref, args) : await accessor.mutation(ref, args);
      sendJson(res, 200, { status: "success", value: convexToJson(value === undefined ? null : (value as Value)), logLines: [] });
    } catch (err) {
      if (err instanceof HttpError) throw err;
      const e = err as Error;
      const payload: Record<string, unknown> = { status: "error", errorMessage: e?.message ?? String(err), logLines: [] };
      if (err instanceof ConvexError) payload.errorData = convexToJson(err.data as Value);
      sendJson(res, STATUS_UDF_FAILED, payload);
    }
  }

  function takeFault(method: string, path: string): Fault | null {
    if (method === "GET" && path === "/healthz") {
      // Readiness probes are only faulted when asked for explicitly.
      const f = faults.find((x) => x.remaining > 0 && x.paths?.includes(path));
      if (!f) return null;
      f.remaining -= 1;
      return f;
    }
    const f = faults.find((x) => x.remaining > 0 && (!x.paths || x.paths.includes(path)));
    if (!f) return null;
    f.remaining -= 1;
    faults = faults.filter((x) => x.remaining > 0);
    return f;
  }

  async function httpAction(req: IncomingMessage, res: ServerResponse, url: URL) {
    const method = req.method ?? "GET";
    const fault = takeFault(method, url.pathname);
    if (fault) {
      await readBody(req).catch(() => undefined);
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault.status === 0) {
        req.socket.destroy();
        return;
      }
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) headers["Retry-After"] = String(fault.retryAfter);
      sendJson(res, fault.status, { error: "injected_fault", status: fault.status }, headers);
      return;
    }
    const body = method === "GET" || method === "HEAD" ? undefined : await readBody(req);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || k === "host" || k === "connection" || k === "transfer-encoding") continue;
      headers.set(k, Array.isArray(v) ? v.join(", ") : v);
    }
    const response = await t.fetch(url.pathname + url.search, { method, headers, body: body === undefined ? undefined : new Uint8Array(body) });
    const out = Buffer.from(await response.arrayBuffer());
    const outHeaders: Record<string, string> = {};
    response.headers.forEach((v, k) => {
      if (k !== "content-length" && k !== "transfer-encoding") outHeaders[k] = v;
    });
    outHeaders["content-length"] = String(out.length);
    res.writeHead(response.status, outHeaders);
    res.end(method === "HEAD" ? undefined : out);
  }

  async function standinApi(req: IncomingMessage, res: ServerResponse, url: URL) {
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case "GET /_standin/documents": {
        const table = url.searchParams.get("table");
        if (table === null) {
          const counts: Record<string, number> = {};
          for (const name of tableNames) {
            counts[name] = (await t.run((ctx) => ctx.db.query(name as any).collect())).length;
          }
          return sendJson(res, 200, { tables: counts });
        }
        if (!tableNames.includes(table)) {
          throw new HttpError(400, { error: "unknown_table", tables: tableNames });
        }
        const docs = await t.run((ctx) => ctx.db.query(table as any).collect());
        return sendJson(res, 200, { table, count: docs.length, documents: docs.map((d) => convexToJson(d as Value)) });
      }
      case "GET /_standin/faults":
        return sendJson(res, 200, { faults });
      case "POST /_standin/faults": {
        const b = parseJson(await readBody(req));
        const status = b?.status;
        const count = b?.count ?? 1;
        const validStatus = Number.isInteger(status) && (status === 0 || (status >= 100 && status <= 599));
        const bad =
          !validStatus ? "status: must be 0 (connection reset) or an HTTP status 100..599"
          : !(Number.isInteger(count) && count >= 1) ? "count: must be an integer >= 1"
          : b.retryAfter !== undefined && !(typeof b.retryAfter === "number" && b.retryAfter >= 0) ? "retryAfter: must be a number of seconds >= 0"
          : b.delayMs !== undefined && !(Number.isInteger(b.delayMs) && b.delayMs >= 0 && b.delayMs <= 600_000) ? "delayMs: must be an integer 0..600000"
          : b.paths !== undefined && !(Array.isArray(b.paths) && b.paths.every((p: unknown) => typeof p === "string" && p.startsWith("/"))) ? "paths: must be an array of paths starting with '/'"
          : null;
        if (bad) throw new HttpError(400, { error: "invalid_body", reason: bad });
        const fault: Fault = { status, remaining: count };
        if (b.retryAfter !== undefined) fault.retryAfter = b.retryAfter;
        if (b.delayMs !== undefined) fault.delayMs = b.delayMs;
        if (b.paths !== undefined) fault.paths = b.paths;
        faults.push(fault);
        return sendJson(res, 200, { faults });
      }
      case "POST /_standin/faults/clear":
        faults = [];
        return sendJson(res, 200, { faults });
      case "POST /_standin/reset":
        t = newInstance();
        faults = [];
        return sendJson(res, 200, { reset: true });
      default:
        throw new HttpError(404, { error: "not_found" });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://standin.local");
    const method = req.method ?? "GET";
    if (url.pathname.startsWith("/_standin/")) {
      if (!admin) throw new HttpError(404, { error: "not_found" });
      return standinApi(req, res, url);
    }
    if (url.pathname === "/api/query" || url.pathname === "/api/mutation") {
      // Browsers call Convex's HTTP API cross-origin (the `convex` npm client in a page):
      // like Convex, any origin may call it; identity comes from the bearer token only.
      const origin = req.headers.origin;
      if (origin) {
        res.setHeader("Access-Control-Allow-Origin", origin);
        res.setHeader("Vary", "Origin");
      }
      if (method === "OPTIONS") {
        res.writeHead(204, {
          "Access-Control-Allow-Methods": "POST, OPTIONS",
          "Access-Control-Allow-Headers": req.headers["access-control-request-headers"] ?? "Content-Type, Authorization",
          "Access-Control-Max-Age": "600",
        });
        res.end();
        return;
      }
      if (method !== "POST") throw new HttpError(405, { error: "method_not_allowed" });
      return callFunction(req, res, url.pathname === "/api/query" ? "query" : "mutation");
    }
    return httpAction(req, res, url);
  }

  const server = createServer((req, res) => {
    const started = performance.now();
    res.on("close", () => {
      const ms = (performance.now() - started).toFixed(1);
      const status = res.headersSent ? res.statusCode : 0;
      log(`${new Date().toISOString()} ${req.method} ${req.url} ${status} ${ms}ms`);
    });
    handle(req, res).catch((err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        sendJson(res, err.status, err.body);
        if (err.status === 413) res.on("finish", () => req.destroy());
        return;
      }
      log(`error: ${(err as Error)?.stack ?? String(err)}`);
      sendJson(res, 500, { error: "internal_error", reason: (err as Error)?.message ?? String(err) });
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 3210, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${shownHost}:${addr.port}`;

  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 5_000).unref();
    });
  return { server, url, close };
}

