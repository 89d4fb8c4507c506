// Fails when src/schema.d.ts is not what openapi-typescript makes of docs/openapi.json.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "ingest-client-"));
try {
  const fresh = join(dir, "schema.d.ts");
  execFileSync("npx", ["openapi-typescript", "../../docs/openapi.json", "-o", fresh], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (readFileSync(fresh, "utf8") !== readFileSync("src/schema.d.ts", "utf8")) {
    console.error(
      "clients/typescript/src/schema.d.ts is stale: run `make openapi-write` and commit it.",
    );
    process.exit(1);
  }
  console.log("schema.d.ts up to date");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
