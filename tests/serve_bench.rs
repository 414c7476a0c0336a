//! The serve benchmark (ignored in test runs; `scripts/bench-serve.sh` runs it in release mode):
//! push→discoverable latency during a 200-push burst notified by distribution 2.8.2, serve's
//! throughput against `referrify migrate` on the same 200 images, and serve's RSS over 10,000
//! generic events naming images it already converted. Prints one JSON object.

mod common;
mod serve_support;

use common::fixtures;
use common::Registry;
use serve_support::{free_port, notifications, Serve, TOKEN};
use std::time::{Duration, Instant};

const N: usize = 200;
const EVENTS: usize = 10_000;
const LIMIT: Duration = Duration::from_secs(1800);

/// `q`-quantile of the push→discoverable histogram, interpolated inside its bucket.
fn quantile(serve: &Serve, q: f64) -> f64 {
    let (_, _, body) = common::http_request(&serve.addr, "GET", "/metrics", &[], b"");
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for l in text.lines() {
        let Some(rest) =
            l.strip_prefix("referrify_serve_push_to_discoverable_seconds_bucket{le=\"")
        else {
            continue;
        };
        let (le, count) = rest.split_once("\"} ").unwrap();
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap()
        };
        buckets.push((le, count.trim().parse().unwrap()));
    }
    let total = buckets.last().map_or(0.0, |b| b.1);
    let want = q * total;
    let mut prev = (0.0, 0.0);
    for (le, c) in buckets {
        if c >= want {
            if le.is_infinite() {
                return prev.0;
            }
            let frac = if c > prev.1 {
                (want - prev.1) / (c - prev.1)
            } else {
                1.0
            };
            return prev.0 + frac * (le - prev.0);
        }
        prev = (le, c);
    }
    f64::NAN
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
#[ignore = "benchmark: scripts/bench-serve.sh"]
fn bench_serve() {
    let repos: Vec<String> = (0..N).map(|i| format!("bench/r{i:03}")).collect();
    let tmp = tempfile::tempdir().unwrap();

    // 1. Latency while 200 images are pushed and notified.
    let port = free_port();
    let reg = Registry::distribution_with_config(&notifications(port));
    let serve = Serve::start(port, &[&reg.backend_addr], &tmp.path().join("j1"), &[]);
    let t = Instant::now();
    common::seed_many(&reg, fixtures::LEGACY_MULTI, &repos, "1");
    let pushed = t.elapsed();
    serve.wait("the burst converted", LIMIT, |s| {
        s.metric("conversions_total") >= N as f64
    });
    let burst = t.elapsed();
    let (p50, p99) = (quantile(&serve, 0.5), quantile(&serve, 0.99));
    drop(serve);

    // 2. Throughput: the same 200 images posted at once, against one migrate run.
    let reg2 = Registry::distribution();
    common::seed_many(&reg2, fixtures::LEGACY_MULTI, &repos, "1");
    let serve2 = Serve::start(
        free_port(),
        &[&reg2.backend_addr],
        &tmp.path().join("j2"),
        &[],
    );
    let t = Instant::now();
    for r in &repos {
        let body = format!(
            r#"{{"repository":"{r}","digest":"{}"}}"#,
            fixtures::LEGACY_MULTI.index
        );
        assert_eq!(serve2.post(body.as_bytes(), Some(TOKEN)).0, 202);
    }
    serve2.wait("all converted", LIMIT, |s| {
        s.metric("conversions_total") >= N as f64
    });
    let serve_secs = t.elapsed().as_secs_f64();
    let reg3 = Registry::distribution();
    common::seed_many(&reg3, fixtures::LEGACY_MULTI, &repos, "1");
    let t = Instant::now();
    let out = common::cli::referrify(&["migrate", &reg3.backend_addr, "--repo", "bench/", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::cli::explain(&out));
    let migrate_secs = t.elapsed().as_secs_f64();

    // 3. RSS over 10,000 events naming images serve2 already converted.
    let pid = serve2.child.id();
    let rss_start = rss_kib(pid);
    let mut samples = Vec::new();
    let t = Instant::now();
    for i in 0..EVENTS {
        let body = format!(
            r#"{{"repository":"{}","digest":"{}"}}"#,
            repos[i % N],
            fixtures::LEGACY_MULTI.index
        );
        assert_eq!(serve2.post(body.as_bytes(), Some(TOKEN)).0, 202);
        if (i + 1) % 1000 == 0 {
            samples.push(rss_kib(pid));
        }
    }
    let events_secs = t.elapsed().as_secs_f64();
    let v = serde_json::json!({
        "burst": {"images": N, "pushSecs": pushed.as_secs_f64(), "allDiscoverableSecs": burst.as_secs_f64(),
                  "latencyP50Secs": p50, "latencyP99Secs": p99},
        "throughput": {"serveSecs": serve_secs, "migrateSecs": migrate_secs,
                       "ratio": serve_secs / migrate_secs},
        "rss": {"events": EVENTS, "secs": events_secs, "startKiB": rss_start, "everyThousandKiB": samples,
                "ignored": serve2.metric("events_ignored_total")},
    });
    println!("{v}");
}
