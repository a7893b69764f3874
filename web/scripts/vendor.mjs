// Copies the browser's third-party modules from node_modules (installed
// from package-lock.json by `npm ci`) into public/vendor/, which is
// committed: `wildrydes up` deploys public/ as it is and needs no npm.
// `--check` verifies the committed copies match the locked packages, so
// the two cannot drift apart (the web tests run it).
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));

/** Each vendored file: the package, the file inside it, and where it goes. */
const files = [
  { pkg: "aws4fetch", from: "dist/aws4fetch.esm.mjs", to: "public/vendor/aws4fetch.js" },
];

function expected({ pkg, from }) {
  const locked = lock.packages[`node_modules/${pkg}`];
  if (!locked) throw new Error(`${pkg} is not in package-lock.json`);
  const source = join(root, "node_modules", pkg, from);
  if (!existsSync(source)) {
    throw new Error(`${source} is missing: run \`npm ci\` in web/ first`);
  }
  const installed = JSON.parse(readFileSync(join(root, "node_modules", pkg, "package.json"), "utf8"));
  if (installed.version !== locked.version) {
    throw new Error(`node_modules has ${pkg} ${installed.version}, the lockfile ${locked.version}: run \`npm ci\``);
  }
  const header = `// ${pkg} ${locked.version} (${locked.license}), ${from}, copied by web/scripts/vendor.mjs; do not edit.\n`;
  return header + readFileSync(source, "utf8");
}

const check = process.argv.includes("--check");
let stale = 0;
for (const file of files) {
  const want = expected(file);
  const target = join(root, file.to);
  const have = existsSync(target) ? readFileSync(target, "utf8") : null;
  if (have === want) continue;
  if (check) {
    console.error(`${file.to} does not match ${file.pkg} in package-lock.json: run \`npm run vendor\` in web/`);
    stale += 1;
  } else {
    writeFileSync(target, want);
    console.log(`wrote ${file.to}`);
  }
}
process.exit(stale ? 1 : 0);
