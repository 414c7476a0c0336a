//! A newcomer's first hour (issue 15): every command's `--help` ends with examples that parse
//! and its exit codes; an error is said once where a person reads it, with its reason (a
//! missing directory, an uppercase repository, a loopback port nothing listens on, which fails
//! at once); convert's table says what its columns are and what a layout got; `check REF
//! --html` says where the page went, and the page (in headless Chromium) names the images,
//! says the statements were read, and shows every command whole.

mod common;

use clap::Parser as _;
use common::browser::{artifact, file_url, Browser};
use common::cli::{json_lines, referrify};
use common::{load_layout, temp_layout, tool, Registry};
use referrify::cli::{Cli, Command};
use serde_json::{json, Value};
use std::process::Output;

const FIXTURE: &str = "buildkit-v0.32.2/legacy-multi";

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The lines under `heading` in a help text, up to the next blank line.
fn section<'a>(help: &'a str, heading: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn every_command_help_has_examples_that_parse_and_its_exit_codes() {
    let cases: [(&str, &[u8]); 6] = [
        ("convert", &[0, 1, 2, 130]),
        ("check", &[0, 1, 2, 3, 130]),
        ("migrate", &[0, 1, 2, 130]),
        ("undo", &[0, 1, 2, 130]),
        ("serve", &[1, 2, 130]),
        ("watch", &[0, 1, 2, 130]),
    ];
    for (cmd, codes) in cases {
        let out = referrify(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{cmd} --help");
        let help = stdout(&out);
        let examples = section(&help, "Examples:");
        assert!(examples.len() >= 3, "{cmd} --help has no examples:\n{help}");
        for line in examples {
            let command = line.split("  # ").next().unwrap().trim();
            let words = shlex::split(command).unwrap_or_else(|| panic!("{command}"));
            let parsed = Cli::try_parse_from(&words)
                .unwrap_or_else(|e| panic!("{cmd} --help example {command:?} does not parse: {e}"));
            let same = matches!(
                (cmd, &parsed.command),
                ("convert", Command::Convert(_))
                    | ("check", Command::Check(_))
                    | ("migrate", Command::Migrate(_))
                    | ("undo", Command::Undo(_))
                    | ("serve", Command::Serve(_))
                    | ("watch", Command::Watch(_))
            );
            assert!(
                same,
                "{cmd} --help shows an example of another command: {command}"
            );
        }
        let listed: Vec<u8> = section(&help, "Exit codes:")
            .iter()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(listed, codes, "{cmd} --help exit codes:\n{help}");
        // `-h` stays short and says where the rest is
        let short = stdout(&referrify(&[cmd, "-h"]));
        assert!(!short.contains("Examples:"), "{short}");
        assert!(short.contains("--help shows examples"), "{short}");
    }
    // the codes named are the ones the binary uses
    use referrify::exit::Exit;
    let all: Vec<u8> = [
        Exit::Ok,
        Exit::Failure,
        Exit::Usage,
        Exit::Uncovered,
        Exit::Interrupted,
    ]
    .iter()
    .map(|e| e.code())
    .collect();
    assert_eq!(all, [0, 1, 2, 3, 130]);
    let migrate = stdout(&referrify(&["migrate", "--help"]));
    assert!(migrate.contains("JSON lines (migrate"), "{migrate}");
    assert!(!migrate.contains("One JSON document"), "{migrate}");
}

#[test]
fn a_missing_layout_directory_says_so_and_the_failed_image_is_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let out = referrify(&[
        "convert",
        &format!("oci-layout://{}:multi", missing.display()),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    let said = format!("{}: no such directory", missing.display());
    assert_eq!(text.matches(&said).count(), 1, "{text}");
    assert!(
        text.contains("1 image (1 failed), 0 attestations:"),
        "{text}"
    );
    // stdout is not a terminal here (a CI log, a file): stderr names the error too
    assert_eq!(stderr(&out).matches(&said).count(), 1, "{}", stderr(&out));

    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let out = referrify(&["check", &format!("oci-layout://{}", file.display())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("not a directory"), "{}", stdout(&out));
}

/// Runs referrify under `script`, which gives it a pseudo-terminal for stdout and stderr:
/// what a person sees, both streams in one transcript.
fn on_a_terminal(args: &[&str]) -> (Option<i32>, String) {
    let script = tool("script", "REFERRIFY_SCRIPT");
    let empty = tempfile::tempdir().unwrap();
    let mut words = vec![env!("CARGO_BIN_EXE_referrify").to_string()];
    words.extend(args.iter().map(|a| a.to_string()));
    let line = shlex::try_join(words.iter().map(String::as_str)).unwrap();
    let out = std::process::Command::new(script)
        .args(["-qec", &line, "/dev/null"])
        .env("DOCKER_CONFIG", empty.path())
        .env_remove("REFERRIFY_LOG")
        .output()
        .expect("running script");
    (out.status.code(), stdout(&out))
}

#[test]
fn on_a_terminal_an_error_is_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = format!("oci-layout://{}:multi", tmp.path().join("gone").display());
    let (_t, layout) = temp_layout(FIXTURE);
    let layout = format!("oci-layout://{}:multi", layout.display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = format!("127.0.0.1:{port}");
    let cases = [
        (vec!["convert", missing.as_str()], "no such directory"),
        (vec!["check", missing.as_str()], "no such directory"),
        (vec!["undo", layout.as_str()], "undo works on registries"),
        (vec!["check", nobody.as_str()], "no registry listens on"),
        (
            vec!["migrate", "--dry-run", nobody.as_str()],
            "no registry listens on",
        ),
    ];
    for (args, said) in cases {
        let (code, seen) = on_a_terminal(&args);
        assert_eq!(code, Some(1), "{args:?}: {seen}");
        assert_eq!(seen.matches(said).count(), 1, "{args:?}:\n{seen}");
    }
}

#[test]
fn undo_of_a_layout_reports_on_stderr_like_the_other_commands() {
    let (_t, layout) = temp_layout(FIXTURE);
    let r = format!("oci-layout://{}:multi", layout.display());
    let out = referrify(&["undo", &r]);
    assert_eq!(out.status.code(), Some(1));
    for (name, text) in [("stdout", stdout(&out)), ("stderr", stderr(&out))] {
        assert!(text.contains("undo works on registries"), "{name}: {text}");
    }
    assert!(
        stderr(&out).contains(&format!("ERROR {r}: ")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_uppercase_repository_is_refused_with_the_reason() {
    let out = referrify(&["check", "127.0.0.1:5000/Team/App:v1"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains(r#"repository names must be lowercase ("Team/App"; try "team/app")"#),
        "{e}"
    );
}

#[test]
fn a_loopback_port_nothing_listens_on_fails_at_once_with_a_short_message() {
    // A port that was bound a moment ago and is free now: connections to it are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let said = format!("connection refused: no registry listens on {addr}");
    let out = referrify(&["convert", "--retries", "5", &format!("{addr}/demo/app:1")]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains(&said), "{text}");
    assert!(!text.contains("attempts"), "retried: {text}");
    assert!(!text.contains("tcp connect error"), "the long form: {text}");

    // migrate's dry run: one request (the catalog), not one per retry, and the reason
    let out = referrify(&["migrate", "--dry-run", "--format", "json", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    let summary = lines.last().unwrap();
    assert_eq!(summary["requests"], 1, "{summary}");
    let catalog = summary["catalogError"].as_str().unwrap();
    assert!(catalog.contains(&said), "{catalog}");
    let out = referrify(&["migrate", "--dry-run", &addr]);
    let text = stdout(&out);
    assert!(text.contains("\n1 HTTP request in "), "{text}");
    assert!(text.starts_with("0 repositories"), "an empty table: {text}");
    assert!(!text.contains("catalog: reading the catalog"), "{text}");
}

#[test]
fn convert_names_its_columns_and_says_what_a_layout_got() {
    let (_t, layout) = temp_layout(FIXTURE);
    let r = format!("oci-layout://{}:multi", layout.display());
    let header = "  PLATFORM       LEGACY ATTESTATION -> OCI 1.1 ARTIFACT      WHAT\n";
    let out = referrify(&["convert", "--dry-run", &r]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(text.matches(header).count(), 1, "{text}");
    assert!(
        text.contains(
            "sha256:a54948f32334 -> sha256:ec50a12a05f3  would write artifact to blobs/, would add it to index.json"
        ),
        "{text}"
    );
    assert!(!text.contains("push"), "{text}");
    let out = referrify(&["convert", &r]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains(header), "{text}");
    assert!(
        text.contains("wrote artifact to blobs/, added it to index.json; verified"),
        "{text}"
    );
    assert!(!text.contains("push"), "{text}");
}

/// Each row's REPOSITORY and TAGS cells, and its fix and confirm commands.
const ROWS: &str = r#"
return Array.from(document.querySelectorAll('#coverage-table tbody tr.row')).map(tr => ({
  repo: tr.cells[0].textContent,
  tags: tr.cells[1].textContent,
  fix: (tr.querySelector('.cmd.fix code') || {}).textContent,
}));
"#;

#[tokio::test]
async fn the_check_ref_page_names_the_images_and_shows_every_command_whole() {
    let (tmp, layout) = temp_layout(FIXTURE);
    let in_layout = format!("oci-layout://{}:multi", layout.display());
    let reg = Registry::distribution();
    load_layout(&reg, &common::testdata(FIXTURE), "app:multi");
    let in_registry = reg.reference("app:multi");
    let page = tmp.path().join("coverage.html");
    let page_arg = page.display().to_string();

    let out = referrify(&["check", &in_layout, &in_registry, "--html", &page_arg]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        stderr(&out).contains(&format!("referrify: wrote the HTML page to {page_arg}")),
        "{}",
        stderr(&out)
    );
    let fixes: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("fix: ").map(str::to_string))
        .collect();
    let quiet = referrify(&["check", "-q", &in_layout, "--html", &page_arg]);
    assert!(!stderr(&quiet).contains("wrote"), "{}", stderr(&quiet));
    let out = referrify(&["check", &in_layout, &in_registry, "--html", &page_arg]);
    assert_eq!(out.status.code(), Some(3));

    let b = Browser::start().await;
    b.goto(&file_url(&page)).await;
    let title = b.execute("return document.title", json!([])).await;
    assert_eq!(
        title,
        json!(format!(
            "Attestation coverage of {in_layout} and {in_registry}"
        ))
    );
    let head = b.find(".page-head").await;
    let head = b.text(&head).await;
    assert!(!head.contains("(images)"), "{head}");
    assert!(head.contains("In-toto statements were read"), "{head}");
    assert!(!head.contains("were not read"), "{head}");
    assert!(
        head.contains(&format!("referrify check {in_layout} {in_registry}")),
        "{head}"
    );

    let rows = b.execute(ROWS, json!([])).await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let layout_repo = format!("oci-layout://{}", layout.display());
    let registry_repo = reg.reference("app");
    for row in rows {
        assert_eq!(row["tags"], "multi", "{row}");
        let repo = row["repo"].as_str().unwrap();
        assert!(repo == layout_repo || repo == registry_repo, "{row}");
        let fix = row["fix"].as_str().unwrap();
        assert!(fixes.iter().any(|f| f == fix), "{fix} not in {fixes:?}");
    }
    let codes = b.find_all(".cmd code").await;
    assert_eq!(codes.len(), 8, "a fix and a confirm command per row");
    for code in &codes {
        assert!(
            b.shows_whole(code).await,
            "{} is cut off",
            b.text(code).await
        );
    }
    b.screenshot(&artifact("html-check-ref.png")).await;
    let console: Vec<Value> = b.console_log().await;
    assert!(
        console.iter().all(|m| m["level"] != "SEVERE"),
        "{console:?}"
    );
    b.quit().await;
}

/// The MSRV Cargo.toml names (`rust-version`).
fn msrv() -> String {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    toml.lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version in Cargo.toml")
        .trim_matches('"')
        .to_string()
}

/// Runs scripts/prereqs.sh with only the tools in `tools` on PATH (symlinked into a temp dir),
/// plus `extra` scripts (name, body), and an empty HOME.
fn prereqs(tools: &[&str], extra: &[(&str, &str)]) -> (Option<i32>, String) {
    use std::os::unix::fs::PermissionsExt as _;
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for t in tools {
        std::os::unix::fs::symlink(tool(t, "REFERRIFY_UNUSED"), bin.join(t)).unwrap();
    }
    for (name, body) in extra {
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = std::process::Command::new(tool("bash", "REFERRIFY_BASH"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/prereqs.sh"))
        .env_clear()
        .env("PATH", &bin)
        .env("HOME", home.path())
        .output()
        .unwrap();
    (
        out.status.code(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

#[test]
fn setup_checks_rust_cc_and_python3_first_and_says_what_to_run() {
    let msrv = msrv();
    const BASE: [&str; 8] = ["sed", "sort", "head", "awk", "dirname", "cut", "cat", "cc"];
    let with_python: Vec<&str> = BASE.iter().copied().chain(["python3"]).collect();
    let rustc = |v: &str| format!("#!/bin/sh\necho 'rustc {v} (59807616e 2026-04-14)'\n");

    // no rustc, no curl: rustup's command, and curl to run it
    let (code, said) = prereqs(&with_python, &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!("Rust >= {msrv} is missing")),
        "{said}"
    );
    assert!(
        said.contains("https://sh.rustup.rs | sh -s -- -y"),
        "{said}"
    );
    assert!(
        said.contains("apt-get install -y curl ca-certificates\n"),
        "{said}"
    );

    let (code, said) = prereqs(&with_python, &[("rustc", &rustc("1.63.0"))]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!("Rust >= {msrv} is needed")),
        "{said}"
    );
    assert!(said.contains("is 1.63.0"), "{said}");
    assert!(said.contains("https://sh.rustup.rs"), "{said}");

    let (code, said) = prereqs(&BASE, &[("rustc", &rustc(&msrv))]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("apt-get install -y python3\n"), "{said}");
    assert!(!said.contains("Rust"), "{said}");

    let no_cc: Vec<&str> = with_python.iter().copied().filter(|t| *t != "cc").collect();
    let (code, said) = prereqs(&no_cc, &[("rustc", &rustc(&msrv))]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("a C compiler"), "{said}");
    assert!(
        said.contains("apt-get install -y gcc libc6-dev\n"),
        "{said}"
    );

    let (code, said) = prereqs(&with_python, &[("rustc", &rustc(&msrv))]);
    assert_eq!(code, Some(0), "{said}");

    // the README's first block names the same version, and setup.sh runs the check first
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let first = readme.split("\n## ").next().unwrap();
    assert!(
        first.contains(&format!("Rust ≥ {msrv}")),
        "README first block"
    );
    for needed in ["python3", "gcc", "curl"] {
        assert!(first.contains(needed), "README first block: {needed}");
    }
    assert!(
        first.contains("cargo install --locked --path ."),
        "README first block"
    );
    let setup =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/setup.sh")).unwrap();
    let check = setup
        .find("prereqs.sh\" || exit 1")
        .expect("setup.sh runs prereqs.sh");
    assert!(check < setup.find("apt-get install").unwrap());
}
