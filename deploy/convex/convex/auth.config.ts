// Clerk as the identity provider for queries called by the frontend.
// Set CLERK_JWT_ISSUER_DOMAIN in the Convex dashboard (Settings -> Environment
// Variables) to the Clerk Frontend API URL, e.g. https://verb-noun-00.clerk.accounts.dev
// The Clerk JWT template must be named "convex" (its `aud` is "convex").
export default {
  providers: [
    {
      domain: process.env.CLERK_JWT_ISSUER_DOMAIN,
      applicationID: "convex",
    },
  ],
};
