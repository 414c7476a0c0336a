//! Where pipelines live, on the command line: `--version` names the commit (and build.rs, run
//! on its own, says so in and out of a checkout), and the shell completions and man pages are
//! generated from the clap definitions and work in the real tools (bash, groff, man).
//! tests/actions.rs covers the GitHub Action, tests/image.rs the container image.

mod common;

use common::cli::{ok, root, stdout};

use clap::CommandFactory as _;
use common::cli::referrify;
use referrify::cli::Cli;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(program: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

/// Every subcommand's name and its long options, the global ones included (the clap definitions
/// are the truth); not clap's own `help` subcommand.
fn commands() -> Vec<(String, Vec<String>)> {
    let mut cli = Cli::command();
    cli.build();
    cli.get_subcommands()
        .filter(|s| s.get_name() != "help")
        .map(|s| {
            let longs = s
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
                .collect();
            (s.get_name().to_string(), longs)
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// --version

/// What `--version` must say about the commit: the hash git reports for this checkout (the
/// build script asks the same git), or "commit unknown" outside a checkout.
fn expected_commit() -> String {
    let git = common::tool("git", "REFERRIFY_GIT");
    let top = run(&git, &["rev-parse", "--show-toplevel"], root());
    let ours = top.status.success()
        && Path::new(stdout(&top).trim()).canonicalize().ok() == root().canonicalize().ok();
    if !ours {
        return "commit unknown".into();
    }
    let out = ok(
        "git log",
        run(&git, &["log", "-1", "--format=%h", "--abbrev=12"], root()),
    );
    stdout(&out).trim().to_string()
}

#[test]
fn version_names_the_version_and_the_commit() {
    let out = ok("referrify --version", referrify(&["--version"]));
    let line = stdout(&out);
    let want = format!(
        "referrify {} ({}",
        env!("CARGO_PKG_VERSION"),
        expected_commit()
    );
    assert!(
        line.starts_with(&want),
        "--version printed {line:?}, want it to start with {want:?}"
    );
    assert_eq!(line.lines().count(), 1, "one line: {line:?}");
    let short = ok("referrify -V", referrify(&["-V"]));
    assert_eq!(stdout(&short), line, "-V and --version differ");
}

/// build.rs compiled on its own, as if for a crate at `dir`; returns the function that runs it
/// there and gives the version line it sets.
fn build_script(dir: &Path) -> impl Fn(&[(&str, &str)]) -> String + '_ {
    let rustc = common::tool("rustc", "REFERRIFY_RUSTC");
    let exe = dir.join("build-script");
    let build_rs = root().join("build.rs").display().to_string();
    ok(
        "rustc build.rs",
        Command::new(rustc)
            .args(["--edition", "2021", "-o"])
            .arg(&exe)
            .arg(&build_rs)
            .env("CARGO_MANIFEST_DIR", dir)
            .env("CARGO_PKG_VERSION", "9.8.7")
            .output()
            .unwrap(),
    );
    move |env: &[(&str, &str)]| {
        let mut cmd = Command::new(&exe);
        cmd.current_dir(dir).env_remove("REFERRIFY_COMMIT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = ok("build script", cmd.output().unwrap());
        stdout(&out)
            .lines()
            .find_map(|l| l.strip_prefix("cargo:rustc-env=REFERRIFY_VERSION="))
            .unwrap_or_else(|| panic!("build script set no version:\n{}", stdout(&out)))
            .to_string()
    }
}

#[test]
fn build_script_names_unknown_given_clean_and_dirty_commits() {
    let git = common::tool("git", "REFERRIFY_GIT");
    let parent = tempfile::tempdir().unwrap();
    // A crate unpacked inside some other repository is not that repository's commit.
    let dir = parent.path().join("crate");
    std::fs::create_dir(&dir).unwrap();
    let g = |args: &[&str], at: &Path| {
        let mut all = vec!["-c", "user.email=t@example.com", "-c", "user.name=t"];
        all.extend(args);
        ok(&format!("git {args:?}"), run(&git, &all, at));
    };
    g(&["init", "-q", "."], parent.path());
    g(
        &["commit", "-q", "--allow-empty", "-m", "outer"],
        parent.path(),
    );
    let version = build_script(&dir);
    assert_eq!(version(&[]), "9.8.7 (commit unknown)");
    assert_eq!(
        version(&[("REFERRIFY_COMMIT", "v9.8.7-src")]),
        "9.8.7 (v9.8.7-src)"
    );

    g(&["init", "-q", "."], &dir);
    std::fs::write(dir.join("f"), "1").unwrap();
    g(&["add", "f"], &dir);
    g(&["commit", "-q", "-m", "one"], &dir);
    let head = stdout(&run(
        &git,
        &["log", "-1", "--format=%h %cs", "--abbrev=12"],
        &dir,
    ));
    let (hash, date) = head.trim().split_once(' ').unwrap();
    assert_eq!(version(&[]), format!("9.8.7 ({hash} {date})"));
    std::fs::write(dir.join("f"), "2").unwrap();
    assert_eq!(version(&[]), format!("9.8.7 ({hash}-dirty {date})"));
    std::fs::write(dir.join("untracked"), "").unwrap();
    std::fs::write(dir.join("f"), "1").unwrap();
    assert_eq!(
        version(&[]),
        format!("9.8.7 ({hash} {date})"),
        "an untracked file is not dirty"
    );
}

// ------------------------------------------------------------------------------------------------
// completions

/// Sources the bash completion script and asks it, as bash does on TAB, to complete `words`
/// (the last one is the word under the cursor); returns the candidates.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let bash = common::tool("bash", "REFERRIFY_BASH");
    let quoted: Vec<String> = words
        .iter()
        .map(|w| shlex::try_quote(w).unwrap().into_owned())
        .collect();
    let program = format!(
        "source {script}\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\n\
         _referrify referrify {cur} {prev}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script = shlex::try_quote(&script.display().to_string()).unwrap(),
        words = quoted.join(" "),
        cword = words.len() - 1,
        cur = quoted[words.len() - 1],
        prev = quoted[words.len() - 2],
    );
    let out = ok(
        "bash completion",
        Command::new(bash)
            .args(["--norc", "--noprofile", "-c", &program])
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn bash_completion_parses_and_completes_every_subcommand_and_option() {
    let out = ok(
        "referrify completions bash",
        referrify(&["completions", "bash"]),
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("referrify.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let bash = common::tool("bash", "REFERRIFY_BASH");
    ok(
        "bash -n",
        run(&bash, &["-n", &script.display().to_string()], dir.path()),
    );

    let top = bash_complete(&script, &["referrify", ""]);
    for (name, longs) in commands() {
        assert!(
            top.contains(&name),
            "`referrify <TAB>` does not offer {name}: {top:?}"
        );
        let opts = bash_complete(&script, &["referrify", &name, "--"]);
        for l in longs {
            assert!(
                opts.contains(&l),
                "`referrify {name} --<TAB>` does not offer {l}: {opts:?}"
            );
        }
    }
    let shells = bash_complete(&script, &["referrify", "completions", ""]);
    assert!(
        shells.contains(&"zsh".to_string()),
        "completions <TAB>: {shells:?}"
    );
}

#[test]
fn every_shell_gets_a_script_that_names_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = ok(shell, referrify(&["completions", shell]));
        let text = stdout(&out);
        for (name, _) in commands() {
            assert!(text.contains(&name), "{shell} completion lacks {name}");
        }
    }
    let bad = referrify(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "unknown shell is a usage error");
}

// ------------------------------------------------------------------------------------------------
// man pages

/// Renders a page with groff as `man` does, with every warning on; fails on any warning.
fn render(page: &Path) -> String {
    let groff = common::tool("groff", "REFERRIFY_GROFF");
    let p = page.display().to_string();
    let out = ok(
        "groff",
        run(
            &groff,
            &["-k", "-man", "-Tutf8", "-ww", "-rLL=100n", &p],
            root(),
        ),
    );
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.is_empty(), "groff warns on {p}:\n{warnings}");
    // Remove overstrike (bold/underline) so the text can be searched.
    let text = stdout(&out);
    let mut clean = String::new();
    for c in text.chars() {
        if c == '\u{8}' {
            clean.pop();
        } else {
            clean.push(c);
        }
    }
    clean
}

#[test]
fn man_pages_render_and_document_every_command_and_option() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    ok("referrify man --dir", referrify(&["man", "--dir", &d]));

    let top = render(&dir.path().join("referrify.1"));
    for long in ["--format", "--quiet", "--ca-file", "--version"] {
        assert!(top.contains(long), "referrify(1) lacks {long}");
    }
    for (name, longs) in commands() {
        assert!(top.contains(&name), "referrify(1) does not list {name}");
        let page = dir.path().join(format!("referrify-{name}.1"));
        assert!(page.is_file(), "no page {}", page.display());
        let text = render(&page);
        for l in longs {
            assert!(
                text.contains(&l),
                "referrify-{name}(1) does not document {l}"
            );
        }
    }

    // `referrify man` prints the top page, the same bytes `--dir` writes; `man -l` shows it.
    let out = ok("referrify man", referrify(&["man"]));
    let written = std::fs::read(dir.path().join("referrify.1")).unwrap();
    assert_eq!(out.stdout, written, "stdout page differs from referrify.1");
    let man = common::tool("man", "REFERRIFY_MAN");
    let shown = ok(
        "man -l",
        Command::new(man)
            .args(["-l", &format!("{d}/referrify.1")])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap(),
    );
    let shown = stdout(&shown);
    assert!(
        shown.contains("Make BuildKit") && shown.contains("completions"),
        "man -l shows:\n{shown}"
    );
}

/// `completions --help` and `man --help` end like every command's: examples that parse (up to a
/// redirection or a pipe) and the exit codes; `-h` stays short.
#[test]
fn completions_and_man_help_show_examples_and_exit_codes() {
    use clap::Parser as _;
    for (cmd, codes) in [("completions", [0u8, 1, 2]), ("man", [0, 1, 2])] {
        let help = stdout(&ok(cmd, referrify(&[cmd, "--help"])));
        let section = |heading: &str| -> Vec<String> {
            help.lines()
                .skip_while(|l| *l != heading)
                .skip(1)
                .take_while(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect()
        };
        let examples = section("Examples:");
        assert!(examples.len() >= 2, "{cmd} --help:\n{help}");
        for line in examples {
            let command = line.split(['>', '|', '#']).next().unwrap().trim();
            let words = shlex::split(command).unwrap();
            let parsed = Cli::try_parse_from(&words)
                .unwrap_or_else(|e| panic!("{cmd} --help example {command:?}: {e}"));
            assert!(
                matches!(
                    (cmd, &parsed.command),
                    ("completions", referrify::cli::Command::Completions(_))
                        | ("man", referrify::cli::Command::Man(_))
                ),
                "{cmd} --help shows another command: {command}"
            );
        }
        let listed: Vec<u8> = section("Exit codes:")
            .iter()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(listed, codes, "{cmd} --help exit codes:\n{help}");
        let short = stdout(&ok(cmd, referrify(&[cmd, "-h"])));
        assert!(!short.contains("Examples:"), "{short}");
    }
}

#[test]
fn man_into_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir").display().to_string();
    let out = referrify(&["man", "--dir", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write man pages to") && err.contains(&missing),
        "stderr: {err}"
    );
}
