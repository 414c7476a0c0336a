//! Credentials never appear in output, logs, errors or JSON: a registry with HTTP Basic auth and a
//! known password, every command, successes and failures, at the most verbose log level, with
//! stdout and stderr searched for the password and for its base64 forms.

mod common;

use base64::Engine as _;
use common::fixtures::LEGACY_MULTI;
use common::Registry;
use std::process::Command;

const USER: &str = "ci-user";
const PASSWORD: &str = "Tr0ub4dor&3-KNOWN-SECRET";

fn config(dir: &std::path::Path, registry: &str, password: &str) {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
    std::fs::write(
        dir.join("config.json"),
        format!(r#"{{"auths":{{"{registry}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
}

#[test]
fn no_secret_in_any_output() {
    let reg = Registry::distribution_with_htpasswd(USER, PASSWORD);
    let repo = common::unique_repo("secret");
    common::load_layout_with_auth(
        &reg,
        &LEGACY_MULTI.dir(),
        &format!("{repo}:multi"),
        USER,
        PASSWORD,
    );
    let good = tempfile::tempdir().unwrap();
    config(good.path(), &reg.addr, PASSWORD);
    let wrong = tempfile::tempdir().unwrap();
    let wrong_password = format!("{PASSWORD}-WRONG");
    config(wrong.path(), &reg.addr, &wrong_password);
    let image = reg.reference(&format!("{repo}:multi"));
    let forms: Vec<String> = [PASSWORD, wrong_password.as_str()]
        .iter()
        .flat_map(|p| {
            let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
            vec![
                p.to_string(),
                b64(format!("{USER}:{p}")),
                b64(p.to_string()),
            ]
        })
        .collect();
    let runs: Vec<(&std::path::Path, Vec<&str>)> = vec![
        (good.path(), vec!["check", &image]),
        (
            good.path(),
            vec!["convert", "--dry-run", "--format", "json", &image],
        ),
        (good.path(), vec!["convert", "-vv", &image]),
        (
            good.path(),
            vec!["migrate", &reg.addr, "--format", "json", "-vv"],
        ),
        (good.path(), vec!["check", &reg.addr, "--format", "json"]),
        (wrong.path(), vec!["check", "-vv", &image]),
        (wrong.path(), vec!["convert", "--format", "json", &image]),
        (wrong.path(), vec!["migrate", &reg.addr, "-vv"]),
    ];
    let mut failures = 0;
    for (cfg, args) in runs {
        let out = Command::new(env!("CARGO_BIN_EXE_referrify"))
            .args(&args)
            .env("DOCKER_CONFIG", cfg)
            .env("REFERRIFY_LOG", "trace")
            .output()
            .unwrap();
        failures += usize::from(!out.status.success());
        let all = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.len() > 50, "{args:?} printed something: {all}");
        for f in &forms {
            assert!(
                !all.contains(f.as_str()),
                "{args:?} printed a secret ({f}):\n{all}"
            );
        }
        assert!(
            !all.to_ascii_lowercase().contains("authorization: basic"),
            "{args:?}"
        );
    }
    assert!(failures >= 3, "the wrong-password runs fail ({failures})");
}
