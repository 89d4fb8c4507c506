// Verifies dev Clerk session tokens (RS256 JWTs) the way Convex would, so the
// frontend's queries run with a real user identity against the stand-in.
//
//   CLERK_JWT_KEY    PEM public key (SPKI). "\n" escapes are accepted.
//   CLERK_JWKS_URL   JWKS URL (e.g. a local dev JWKS server). Used if no PEM.
//   CLERK_JWKS_FILE  path to a JWKS JSON file. Used if neither of the above.
//   CLERK_ISSUER     if set, `iss` must equal it.
//   CLERK_AUDIENCE   if set, `aud` must contain it (Clerk's Convex template uses "convex").
import { readFileSync } from "node:fs";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  importSPKI,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";

export type Identity = {
  subject: string;
  issuer: string;
  tokenIdentifier: string;
  [claim: string]: string;
};

export class AuthError extends Error {}

export type TokenVerifier = (token: string) => Promise<Identity>;

export async function makeVerifier(env: NodeJS.ProcessEnv = process.env): Promise<TokenVerifier | null> {
  let key: CryptoKey | Uint8Array | JWTVerifyGetKey;
  if (env.CLERK_JWT_KEY) {
    key = await importSPKI(env.CLERK_JWT_KEY.replace(/\\n/g, "\n").trim(), "RS256");
  } else if (env.CLERK_JWKS_URL) {
    key = createRemoteJWKSet(new URL(env.CLERK_JWKS_URL));
  } else if (env.CLERK_JWKS_FILE) {
    key = createLocalJWKSet(JSON.parse(readFileSync(env.CLERK_JWKS_FILE, "utf8")));
  } else {
    return null;
  }
  const issuer = env.CLERK_ISSUER || undefined;
  const audience = env.CLERK_AUDIENCE || undefined;
  return async (token: string) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as any, {
        algorithms: ["RS256"],
        issuer,
        audience,
        clockTolerance: 5,
      }));
    } catch (err) {
      throw new AuthError(`invalid token: ${(err as Error).message}`);
    }
    if (typeof payload.sub !== "string" || payload.sub === "") {
      throw new AuthError("invalid token: no sub claim");
    }
    const iss = typeof payload.iss === "string" ? payload.iss : "";
    const identity: Identity = {
      subject: payload.sub,
      issuer: iss,
      tokenIdentifier: `${iss}|${payload.sub}`,
    };
    for (const claim of ["email", "name", "given_name", "family_name", "picture"]) {
      const value = payload[claim];
      if (typeof value === "string") identity[claim] = value;
    }
    return identity;
  };
}
