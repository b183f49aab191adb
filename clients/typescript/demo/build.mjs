// Builds the /demo page into the Python package (src/gazepipe/static/demo), so `make run` needs no npm.
// `--check` builds to memory and fails when the committed files differ (the demo must not rot silently).
import { build } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "..", "..", "..", "src", "gazepipe", "static", "demo");
const check = process.argv.includes("--check");

const result = await build({
  entryPoints: [join(here, "main.tsx")],
  bundle: true,
  format: "iife",
  target: ["es2020"],
  minify: true,
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "eof",
  write: false,
  logLevel: "warning",
});

const files = {
  "gazepipe-demo.js": result.outputFiles[0].contents,
  "index.html": readFileSync(join(here, "index.html")),
};

let stale = [];
for (const [name, contents] of Object.entries(files)) {
  const target = join(outDir, name);
  if (check) {
    if (!existsSync(target) || !Buffer.from(contents).equals(readFileSync(target))) stale.push(target);
  } else {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(target, contents);
    console.log(`wrote ${target} (${contents.length} bytes)`);
  }
}
if (stale.length) {
  console.error(`demo build differs from the committed files:\n  ${stale.join("\n  ")}\nrun: npm run build:demo (in clients/typescript) and commit them`);
  process.exit(1);
}
