//! TLS on a real registry (Debian's docker-registry with a self-signed certificate on 127.0.0.1):
//! verified by default, so refused; accepted with `--ca-file`; never silently downgraded to HTTP.

mod common;

use common::cli::{code, explain, first_image_error, json, referrify};
use common::fixtures::LEGACY_V1;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct TlsRegistry {
    addr: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for TlsRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tls_registry() -> TlsRegistry {
    let dir = tempfile::tempdir().unwrap();
    // A private CA (ca.pem, what a user passes to --ca-file) and a server certificate it signed
    // for 127.0.0.1 (rustls, like browsers, refuses a CA certificate used as the server's own).
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let p = |n: &str| dir.path().join(n).display().to_string();
    let ext = p("ext.cnf");
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=referrify test CA",
            "-keyout",
            &p("ca-key.pem"),
            "-out",
            &p("ca.pem"),
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p("key.pem"),
            "-out",
            &p("csr.pem"),
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &p("csr.pem"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &p("cert.pem"),
        ],
    ] {
        let o = Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\nhttp:\n  addr: {addr}\n  tls: {{certificate: {}, key: {}}}\n",
            dir.path().join("data").display(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let child = Command::new(common::tool("docker-registry", "REFERRIFY_DOCKER_REGISTRY"))
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "TLS registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    TlsRegistry { addr, child, dir }
}

#[test]
fn self_signed_loopback_registry_is_refused_then_trusted_with_ca_file() {
    let reg = start_tls_registry();
    common::skopeo_copy_layout(&reg.addr, &LEGACY_V1.dir(), None, "tls/app:1", None);
    let image = format!("{}/tls/app:1", reg.addr);

    // Default: HTTPS with verification; the unknown issuer is refused and nothing falls back to HTTP.
    let out = referrify(&["check", "--format", "json", &image]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let err = first_image_error(&out);
    assert!(
        err.contains("https://") && err.to_lowercase().contains("certificate"),
        "{err}"
    );

    // With the CA: works end to end.
    let ca = reg.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let out = referrify(&["convert", "--ca-file", ca, "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(json(&out)["images"][0]["attestations"][0]["verified"], true);
    let out = referrify(&["check", "--ca-file", ca, &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("--plain-http"),
        "the confirm command must not suggest plain HTTP"
    );
}

#[test]
fn a_missing_ca_file_is_a_clear_error() {
    let out = referrify(&[
        "check",
        "--ca-file",
        "/nonexistent/ca.pem",
        "127.0.0.1:1/x:1",
    ]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cannot read CA file /nonexistent/ca.pem"),
        "{}",
        explain(&out)
    );
}
