/// <reference types="vite/client" />
// The Convex function modules for convex-test (a Vite glob, resolved by vitest).
export const modules = import.meta.glob("../convex/**/*.*s");
