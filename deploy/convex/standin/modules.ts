// Builds the module map convex-test needs without Vite's `import.meta.glob`:
// every .ts/.js file under convex/ (including _generated/), loaded lazily
// with a dynamic import (tsx compiles the TypeScript).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export type ModuleMap = Record<string, () => Promise<any>>;

export function convexModules(convexDir: string): ModuleMap {
  const out: ModuleMap = {};
  const walk = (dir: string) => {
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, ent.name);
      if (ent.isDirectory()) {
        if (!ent.name.startsWith(".") && ent.name !== "node_modules") walk(full);
      } else if (/\.(ts|js|mjs|cjs)$/.test(ent.name) && !ent.name.endsWith(".d.ts")) {
        const url = pathToFileURL(full).href;
        // Keys only need a common prefix ending in "convex/" (found via "_generated").
        out[full.split("\\").join("/")] = () => import(url);
      }
    }
  };
  walk(convexDir);
  return out;
}

/** Strips the root and extension: "/x/convex/lib/a.ts" -> "lib/a". */
export function modulePathIndex(modules: ModuleMap): Map<string, () => Promise<any>> {
  const keys = Object.keys(modules);
  const generated = keys.find((k) => k.includes("/_generated/"));
  if (!generated) throw new Error("convex/_generated is missing: run `npm run codegen`");
  const prefix = generated.split("_generated")[0];
  const index = new Map<string, () => Promise<any>>();
  for (const [key, load] of Object.entries(modules)) {
    index.set(key.slice(prefix.length).replace(/\.[^./]+$/, ""), load);
  }
  return index;
}
