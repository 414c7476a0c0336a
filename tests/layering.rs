//! The data flow is one-way (README "Development"): `model` and `plan` are pure — no I/O, no
//! async, no reaching into the stages that do I/O — so planning can be tested and dry-run
//! without a network or a disk.

use std::path::Path;

fn sources(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            // Unit tests may use anything.
            let code = text.split("#[cfg(test)]").next().unwrap().to_string();
            out.push((p.display().to_string(), code));
        }
    }
    assert!(!out.is_empty(), "{dir} has no sources");
    out
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
        "crate::store",
        "crate::transport",
        "crate::input",
        "crate::execute",
        "crate::commands",
        "crate::report",
    ];
    for dir in ["src/model", "src/plan"] {
        for (file, code) in sources(dir) {
            for f in forbidden {
                assert!(!code.contains(f), "{file} uses {f}");
            }
        }
    }
    // model depends on nothing else in the crate.
    for (file, code) in sources("src/model") {
        assert!(!code.contains("crate::plan"), "{file} reaches into plan");
    }
}
