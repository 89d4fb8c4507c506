// Everything that differs between `make dev` and production is one of these variables
// (Vite reads them from the environment or examples/web/.env.local at build/dev time).
export const config = {
  /** The ingest API. */
  ingestUrl: import.meta.env.VITE_INGEST_URL ?? "http://127.0.0.1:8000",
  /** The Convex deployment (`https://<deployment>.convex.cloud`), or the local stand-in. */
  convexUrl: import.meta.env.VITE_CONVEX_URL ?? "http://127.0.0.1:3210",
  /** Set it to use real Clerk; unset, tokens come from the dev issuer (dev server only). */
  clerkPublishableKey: import.meta.env.VITE_CLERK_PUBLISHABLE_KEY as string | undefined,
  /** The dev user (dev issuer only). */
  devUserId: import.meta.env.VITE_DEV_USER_ID ?? "user_web_demo",
};
