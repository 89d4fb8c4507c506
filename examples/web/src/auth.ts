// Signing in and getting session tokens, the way a Clerk app does: `getToken()` returns a
// short-lived session token (Clerk's live 60 s) and is called before every request, so an
// expired token is never reused. `getToken({ template: "convex" })` returns the token for
// Convex (Clerk's "convex" JWT template, audience `convex`).
//
// With VITE_CLERK_PUBLISHABLE_KEY set this is real Clerk (clerk-js, loaded from your Clerk
// instance's Frontend API as Clerk's JavaScript quickstart does). Without it, the dev
// issuer: the Vite dev server signs tokens with `make dev`'s local key, which ingest and
// the Convex stand-in trust in dev. The rest of the page cannot tell the difference.

export interface Session {
  userId: string;
  getToken(options?: { template?: string }): Promise<string | null>;
}

export async function signIn(config: {
  clerkPublishableKey?: string;
  devUserId: string;
  signInElement: HTMLElement;
}): Promise<Session> {
  if (config.clerkPublishableKey) return clerkSession(config.clerkPublishableKey, config.signInElement);
  return devSession(config.devUserId);
}

/** The dev issuer: a cached token, renewed 10 s before it expires (as Clerk does). */
function devSession(userId: string): Session {
  let cached: { jwt: string; expiresAt: number } | undefined;
  return {
    userId,
    async getToken() {
      if (cached && cached.expiresAt - Date.now() > 10_000) return cached.jwt;
      const response = await fetch(`/dev-clerk/session-token?sub=${encodeURIComponent(userId)}`, {
        cache: "no-store",
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(`dev sign-in failed: ${body.reason ?? response.status}`);
      }
      cached = (await response.json()) as { jwt: string; expiresAt: number };
      return cached.jwt;
    },
  };
}

interface ClerkGlobal {
  load(): Promise<void>;
  user: { id: string } | null | undefined;
  session: { getToken(options?: { template?: string }): Promise<string | null> } | null | undefined;
  mountSignIn(element: HTMLElement): void;
  addListener(listener: (resources: { user?: { id: string } | null }) => void): () => void;
}

/** The Frontend API host is encoded in the publishable key: pk_(test|live)_base64("<host>$"). */
function frontendApi(publishableKey: string): string {
  return atob(publishableKey.split("_")[2] ?? "").replace(/\$$/, "");
}

async function clerkSession(publishableKey: string, signInElement: HTMLElement): Promise<Session> {
  await new Promise<void>((resolve, reject) => {
    const script = document.createElement("script");
    script.src = `https://${frontendApi(publishableKey)}/npm/@clerk/clerk-js@5/dist/clerk.browser.js`;
    script.async = true;
    script.crossOrigin = "anonymous";
    script.dataset.clerkPublishableKey = publishableKey;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error("could not load Clerk"));
    document.head.append(script);
  });
  const clerk = (window as unknown as { Clerk: ClerkGlobal }).Clerk;
  await clerk.load();
  const user =
    clerk.user ??
    (await new Promise<{ id: string }>((resolve) => {
      clerk.mountSignIn(signInElement);
      clerk.addListener(({ user: signedIn }) => {
        if (signedIn) resolve(signedIn);
      });
    }));
  signInElement.replaceChildren();
  return {
    userId: user.id,
    getToken: async (options) => (await clerk.session?.getToken(options)) ?? null,
  };
}
