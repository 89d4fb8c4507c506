/// <reference types="node" />
// Vite config for the example page. In `vite` (dev) it also serves a stand-in for Clerk's
// token endpoint at /dev-clerk/session-token, signing Clerk-shaped session tokens with the
// dev key that `make dev` created (.dev/clerk/private.pem) — the key ingest and the Convex
// stand-in trust in dev. It exists only in the dev server, never in a build.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { calculateJwkThumbprint, exportJWK, importPKCS8, SignJWT } from "jose";
import { defineConfig, type Plugin } from "vite";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");

function devClerk(): Plugin {
  return {
    name: "dev-clerk-tokens",
    apply: "serve",
    configureServer(server) {
      const keyFile = process.env.DEV_CLERK_PRIVATE_KEY_FILE ?? resolve(root, ".dev/clerk/private.pem");
      const issuer = process.env.DEV_CLERK_ISSUER ?? "http://127.0.0.1:8000/dev-clerk";
      const ttlS = Number(process.env.DEV_CLERK_TOKEN_TTL_S ?? "60"); // Clerk's session tokens live 60 s
      let signer: Promise<{ key: CryptoKey; kid: string }> | undefined;
      const load = async () => {
        const pem = readFileSync(keyFile, "utf8");
        const key = await importPKCS8(pem, "RS256", { extractable: true });
        const { kty, n, e } = await exportJWK(key);
        return { key, kid: await calculateJwkThumbprint({ kty, n, e }) };
      };
      server.middlewares.use("/dev-clerk/session-token", (req, res) => {
        void (async () => {
          try {
            const url = new URL(req.url ?? "/", "http://dev.local");
            const sub = url.searchParams.get("sub") ?? "user_web_demo";
            const origin = req.headers.origin ?? `http://${req.headers.host}`;
            signer ??= load();
            const { key, kid } = await signer;
            const now = Math.floor(Date.now() / 1000);
            const jwt = await new SignJWT({ azp: origin, sid: `sess_dev_${sub}` })
              .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
              .setIssuer(issuer)
              .setSubject(sub)
              .setIssuedAt(now)
              .setNotBefore(now - 10)
              .setExpirationTime(now + ttlS)
              .sign(key);
            res.setHeader("Content-Type", "application/json");
            res.setHeader("Cache-Control", "no-store");
            res.end(JSON.stringify({ jwt, expiresAt: (now + ttlS) * 1000 }));
          } catch (error) {
            signer = undefined;
            res.statusCode = 500;
            res.setHeader("Content-Type", "application/json");
            res.end(
              JSON.stringify({
                error: "dev_clerk_unavailable",
                reason: `${(error as Error).message} (run \`make dev\` once to create ${keyFile})`,
              }),
            );
          }
        })();
      });
    },
  };
}

export default defineConfig({
  plugins: [devClerk()],
  server: {
    host: "localhost",
    port: Number(process.env.PORT ?? "3000"), // the origin `make dev` allows (CORS_ORIGINS)
    strictPort: true,
    // The page imports the TypeScript client and the Convex function references from the
    // repository (clients/typescript, deploy/convex).
    fs: { allow: [root] },
  },
  build: { target: "es2022" },
});
