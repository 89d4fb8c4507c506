// CLI for the local Convex stand-in (dev/test tool, not for production).
//   npm run standin -- [--port 3210] [--host 127.0.0.1]
// Env: CONVEX_STANDIN_PORT, CONVEX_STANDIN_HOST, CONVEX_SYNC_SECRET,
//      CONVEX_STANDIN_ADMIN=1 (enables the unauthenticated /_standin/* routes: dev/tests only),
//      CLERK_JWT_KEY | CLERK_JWKS_URL | CLERK_JWKS_FILE, CLERK_ISSUER, CLERK_AUDIENCE.
// Prints "convex-standin listening on http://HOST:PORT" when ready (--port 0 picks a free port).
import { parseArgs } from "node:util";
import { startStandin } from "./server";

const USAGE = `usage: npm run standin -- [--port N] [--host ADDR]
  --port  TCP port (default $CONVEX_STANDIN_PORT or 3210; 0 = any free port)
  --host  bind address (default $CONVEX_STANDIN_HOST or 127.0.0.1)`;

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: "string", short: "p" },
        host: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const portText = values.port ?? process.env.CONVEX_STANDIN_PORT ?? "3210";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid port: ${portText}\n${USAGE}`);
    process.exit(2);
  }
  const host = values.host ?? process.env.CONVEX_STANDIN_HOST ?? "127.0.0.1";
  if (!["127.0.0.1", "localhost", "::1"].includes(host) && !host.startsWith("127.")) {
    console.warn(`warning: binding ${host}; the stand-in has no production hardening, keep it on loopback`);
  }
  if (!process.env.CONVEX_SYNC_SECRET) {
    console.warn("warning: CONVEX_SYNC_SECRET is not set: POST /agent-outputs and /career-recommendations will answer 500 not_configured");
  }
  if (!process.env.CLERK_JWT_KEY && !process.env.CLERK_JWKS_URL && !process.env.CLERK_JWKS_FILE) {
    console.warn("warning: no CLERK_JWT_KEY / CLERK_JWKS_URL / CLERK_JWKS_FILE: only anonymous /api/query calls work");
  }

  const admin = process.env.CONVEX_STANDIN_ADMIN === "1";
  if (admin) console.warn("warning: CONVEX_STANDIN_ADMIN=1: /_standin/* (all documents, faults, reset) need no auth");
  const standin = await startStandin({ port, host, admin });
  console.log(`convex-standin listening on ${standin.url}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`convex-standin: ${signal}, shutting down`);
    standin.close().then(() => {
      console.log("convex-standin stopped");
      process.exit(0);
    });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err) => {
  console.error(`convex-standin failed to start: ${(err as Error)?.stack ?? err}`);
  process.exit(1);
});
