// API types for the console, generated from the four services' OpenAPI documents.
// The documents come from the apps themselves (python -m marops_gateway.openapi), so the
// console is checked (tsc) against the APIs as they are in this checkout.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const out = resolve(here, "..", "src", "api", "generated");
const python = process.env.MAROPS_PYTHON || join(root, ".venv", "bin", "python");
const docs = join(out, "openapi");
mkdirSync(docs, { recursive: true });
execFileSync(python, ["-m", "marops_gateway.openapi", docs], { stdio: "inherit", cwd: root });
for (const service of ["intake", "governance", "budget", "metrics"]) {
  const doc = JSON.parse(readFileSync(join(docs, `${service}.json`), "utf8"));
  const banner = `// Generated from the ${service} service's OpenAPI document by scripts/gen-types.mjs; do not edit.\n`;
  writeFileSync(join(out, `${service}.ts`), banner + astToString(await openapiTS(doc)));
}
