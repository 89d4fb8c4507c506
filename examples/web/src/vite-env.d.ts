/// <reference types="vite/client" />
interface ImportMetaEnv {
  readonly VITE_INGEST_URL?: string;
  readonly VITE_CONVEX_URL?: string;
  readonly VITE_CLERK_PUBLISHABLE_KEY?: string;
  readonly VITE_DEV_USER_ID?: string;
}
interface ImportMeta {
  readonly env: ImportMetaEnv;
}
