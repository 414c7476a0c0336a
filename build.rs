//! Puts the git commit into `referrify --version` (REFERRIFY_VERSION): `0.1.0 (1a2b3c4d5e6f
//! 2026-11-29)`, `-dirty` after the hash when tracked files differ from the commit, and
//! `(commit unknown)` outside a git checkout (a source tarball) or without git. No network.
//! REFERRIFY_COMMIT, when set, names the commit instead (a build from an exported tree).

use std::path::Path;
use std::process::Command;

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=REFERRIFY_COMMIT");
    let commit = match std::env::var("REFERRIFY_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => from_git().unwrap_or_else(|| "commit unknown".to_string()),
    };
    println!("cargo:rustc-env=REFERRIFY_VERSION={version} ({commit})");
}

/// `HASH[-dirty] DATE` of HEAD, and the files whose change must run this script again.
fn from_git() -> Option<String> {
    // Only this crate's own checkout: not a repository that merely contains an unpacked tarball.
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().ok()?;
    if Path::new(&top).canonicalize().ok()? != here {
        return None;
    }
    // Run again when HEAD moves (checkout, commit, reset) or the index changes (staging,
    // committing); `src` for edits that make the tree dirty before they are staged.
    for path in ["HEAD", "index", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            watch(&p);
        }
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(&["rev-parse", "--git-path", &r]) {
            watch(&p);
        }
    }
    println!("cargo:rerun-if-changed=src");
    let line = git(&[
        "log",
        "-1",
        "--no-show-signature",
        "--format=%h %cs",
        "--abbrev=12",
    ])?;
    let (hash, date) = line.split_once(' ')?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(format!(
        "{hash}{} {date}",
        if dirty { "-dirty" } else { "" }
    ))
}

fn watch(path: &str) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if p.exists() {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

/// One git command's trimmed stdout, run in the crate's directory; `None` when git is missing,
/// this is not a checkout, or the command fails.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}
