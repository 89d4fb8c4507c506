#!/usr/bin/env node
// Offline stand-in for `npx convex codegen`: writes convex/_generated/ using the
// code templates shipped inside the pinned `convex` package. `npx convex codegen`
// needs a configured deployment (CONVEX_DEPLOYMENT); this does not. The output
// is what `npx convex dev` would write for this project (JS + .d.ts flavour).
// Usage: node scripts/codegen.mjs [--check]
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const convexDir = join(root, "convex");
const templates = join(root, "node_modules/convex/dist/esm/cli/codegen_templates");
const load = (f) => import(pathToFileURL(join(templates, f)).href);
const { apiCodegen } = await load("api.js");
const { serverCodegen } = await load("server.js");
// dataModel.js pulls in CLI-only dependencies, so its (static) template for a
// project with a schema is reproduced here from convex/dist/esm/cli/codegen_templates/dataModel.js.
const { header } = await load("common.js");
const dynamicDataModelDTS = () => `
  ${header("Generated data model types.")}
  import type { DataModelFromSchemaDefinition, DocumentByName, TableNamesInDataModel, SystemTableNames } from "convex/server";
  import type { GenericId } from "convex/values";
  import schema from "../schema.js";

  /**
   * The names of all of your Convex tables.
   */
  export type TableNames = TableNamesInDataModel<DataModel>;

  /**
   * The type of a document stored in Convex.
   *
   * @typeParam TableName - A string literal type of the table name (like "users").
   */
  export type Doc<TableName extends TableNames> = DocumentByName<DataModel, TableName>;

  /**
   * An identifier for a document in Convex.
   *
   * Convex documents are uniquely identified by their \`Id\`, which is accessible
   * on the \`_id\` field. To learn more, see [Document IDs](https://docs.convex.dev/using/document-ids).
   *
   * Documents can be loaded using \`db.get(tableName, id)\` in query and mutation functions.
   *
   * IDs are just strings at runtime, but this type can be used to distinguish them from other
   * strings when type checking.
   *
   * @typeParam TableName - A string literal type of the table name (like "users").
   */
  export type Id<TableName extends TableNames | SystemTableNames> = GenericId<TableName>;

  /**
   * A type describing your Convex data model.
   *
   * This type includes information about what tables you have, the type of
   * documents stored in those tables, and the indexes defined on them.
   *
   * This type is used to parameterize methods like \`queryGeneric\` and
   * \`mutationGeneric\` to make them type-safe.
   */
  export type DataModel = DataModelFromSchemaDefinition<typeof schema>;
  `;
const { compareModulePaths } = await load("common.js");

// Same entry-point rules as the Convex bundler.
function entryPoints(dir) {
  const out = [];
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, ent.name);
    const rel = relative(convexDir, full);
    if (ent.isDirectory()) {
      if (rel === "_generated" || rel === "_deps" || ent.name.startsWith(".")) continue;
      out.push(...entryPoints(full));
      continue;
    }
    const base = ent.name;
    if (![".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx"].some((e) => base.endsWith(e))) continue;
    if (base.endsWith(".d.ts")) continue;
    if (base.startsWith(".") || base.startsWith("#")) continue;
    if (base === "schema.ts" || base === "schema.js") continue;
    if ((base.match(/\./g) || []).length > 1) continue;
    if (rel.includes(" ")) continue;
    if (!/^\s{0,100}(import|export)/m.test(readFileSync(full, "utf8"))) continue;
    out.push(rel.split(sep).join("/"));
  }
  return out;
}

const modulePaths = entryPoints(convexDir).sort(compareModulePaths);
const api = apiCodegen(modulePaths, { useTypeScript: false });
const server = serverCodegen({ useTypeScript: false, envVars: undefined });
const files = {
  "api.js": api.JS,
  "api.d.ts": api.DTS,
  "server.js": server.JS,
  "server.d.ts": server.DTS,
  "dataModel.d.ts": dynamicDataModelDTS(),
};

let prettier = null;
try {
  prettier = await import("prettier");
} catch {
  /* formatting is cosmetic */
}
const outDir = join(convexDir, "_generated");
mkdirSync(outDir, { recursive: true });
const check = process.argv.includes("--check");
let stale = [];
for (const [name, raw] of Object.entries(files)) {
  const text = prettier ? await prettier.format(raw, { parser: "typescript" }) : raw;
  const target = join(outDir, name);
  if (check) {
    if (!existsSync(target) || readFileSync(target, "utf8") !== text) stale.push(name);
  } else {
    writeFileSync(target, text);
  }
}
if (check && stale.length) {
  console.error(`convex/_generated is stale (${stale.join(", ")}): run npm run codegen`);
  process.exit(1);
}
console.log(`${check ? "checked" : "wrote"} convex/_generated for modules: ${modulePaths.join(", ")}`);
