//! The data flow is one way (README "Development"): commands → engine / walk → store →
//! transport, with `model` (views over bytes) and `plan` (pure decisions) below everything and
//! `report` rendering outcomes. This test reads the crate's real import graph (every
//! `crate::…` path and every `super::…` that leaves a top-level module) and fails on any edge the
//! table does not allow, so a call that climbs back up cannot creep in. `model` and `plan` also do
//! no I/O at all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level modules each module may use (itself always).
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("plan", &["model"]),
    ("transport", &["model"]),
    ("store", &["model", "transport"]),
    ("report", &["model", "plan"]),
    ("state", &["model"]),
    ("exit", &[]),
    ("help", &[]),
    ("stop", &[]),
    ("cli", &["help", "model", "plan", "report"]),
    ("walk", &["model", "plan", "store", "stop"]),
    ("engine", &["model", "plan", "store", "report"]),
    (
        "serve",
        &["model", "plan", "engine", "walk", "store", "report", "stop"],
    ),
    (
        "commands",
        &[
            "cli", "exit", "model", "plan", "engine", "walk", "store", "report", "state", "stop",
            "serve",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its unit tests and comments (tests may use anything; comments
/// name modules in prose).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap();
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `src/<top>/…` or `src/<top>.rs` → `<top>`; `None` for lib.rs and main.rs.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// The identifiers that follow `prefix` in `code` (`crate::` → the top-level modules named).
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    code.match_indices(prefix)
        .map(|(i, _)| {
            code[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// The top-level modules a file uses: `crate::x`, and `super::x` from a module's own `mod.rs`.
fn uses(src: &Path, file: &Path, code: &str) -> BTreeSet<String> {
    let mut out = names_after(code, "crate::");
    let depth = file.strip_prefix(src).unwrap().components().count();
    if depth == 2 && file.file_name().is_some_and(|n| n == "mod.rs") {
        out.extend(names_after(code, "super::"));
    }
    out
}

#[test]
fn every_import_goes_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut seen = BTreeSet::new();
    let mut bad = Vec::new();
    for f in &files {
        let Some(top) = top_module(&src, f) else {
            continue;
        };
        seen.insert(top.clone());
        let Some(ok) = allowed.get(top.as_str()) else {
            bad.push(format!(
                "{}: module {top} is not in the layering table",
                f.display()
            ));
            continue;
        };
        for used in uses(&src, f, &code(f)) {
            if used != top && !ok.contains(&used.as_str()) {
                bad.push(format!("{}: {top} uses {used}", f.display()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports that break the layering:\n{}",
        bad.join("\n")
    );
    // The table names every module there is, and nothing that is gone.
    let table: BTreeSet<String> = allowed.keys().map(|k| k.to_string()).collect();
    assert_eq!(seen, table, "layering table and src/ differ");
}

#[test]
fn the_checker_sees_a_forbidden_edge() {
    // A store file reaching into plan, and a mod.rs reaching out through super::, are both seen.
    let src = Path::new("/x/src");
    let store = Path::new("/x/src/store/registry.rs");
    let used = uses(
        src,
        store,
        "use crate::plan::writes::Action;\nlet x = crate::model::media::X;",
    );
    assert_eq!(used, ["model", "plan"].map(String::from).into());
    let m = Path::new("/x/src/commands/mod.rs");
    assert!(uses(src, m, "use super::transport::Client;").contains("transport"));
    let inner = Path::new("/x/src/commands/check.rs");
    assert!(uses(src, inner, "use super::{emit, Context};").is_empty());
    assert!(code_without_comments_drops("// crate::transport in prose").is_empty());
}

fn code_without_comments_drops(line: &str) -> BTreeSet<String> {
    let dir = std::env::temp_dir().join(format!("layering-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src/store")).unwrap();
    let f = dir.join("src/store/x.rs");
    std::fs::write(&f, line).unwrap();
    let used = uses(&dir.join("src"), &f, &code(&f));
    let _ = std::fs::remove_dir_all(&dir);
    used
}

#[test]
fn model_and_plan_do_no_io() {
    let forbidden = [
        "tokio",
        "reqwest",
        "std::fs",
        "std::net",
        "std::process",
        "async fn",
    ];
    for dir in ["model", "plan"] {
        let mut files = Vec::new();
        rust_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir),
            &mut files,
        );
        assert!(!files.is_empty(), "src/{dir} has no sources");
        for f in files {
            let code = code(&f);
            for word in forbidden {
                assert!(!code.contains(word), "{} uses {word}", f.display());
            }
        }
    }
}
