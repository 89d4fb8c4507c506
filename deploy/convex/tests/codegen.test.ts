// @vitest-environment node
// convex/_generated must match the functions (regenerate with `npm run codegen`).
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

test("convex/_generated is up to date", () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const out = execFileSync(process.execPath, ["scripts/codegen.mjs", "--check"], { cwd: root, encoding: "utf8" });
  expect(out).toContain("checked convex/_generated");
});
