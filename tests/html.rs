//! The HTML coverage page (`referrify check REGISTRY --html FILE`), rendered by a real headless
//! Chromium through chromedriver (tests/common/browser.rs): what the page shows, sorting,
//! filtering, escaping, no network, and an 8,000-row page. Screenshots are kept in
//! `target/test-artifacts/html-report*.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/setup.sh); without them the tests
//! fail.

mod common;

use std::time::{Duration, Instant};

use common::browser::{artifact, file_url, Browser, Element};
use referrify::model::digest::Digest;
use referrify::model::referrers::Via;
use referrify::plan::coverage::{Found, PlatformState};
use referrify::report::html;
use referrify::report::{
    CheckImage, CoverageSummary, PlatformReport, Problem, RegistryCheckReport, RepositoryCoverage,
};
use serde_json::{json, Value};

const REGISTRY: &str = "registry.example.com:5000";
const SPDX: &str = "https://spdx.dev/Document";
const SLSA: &str = "https://slsa.dev/provenance/v1";

// ------------------------------------------------------------------------------------------------
// reports

fn digest(seed: &str) -> Digest {
    Digest::sha256(seed.as_bytes())
}

/// A platform manifest in `state`, with what `check` would say about it.
fn platform(repo: &str, index: &Digest, name: &str, state: PlatformState) -> PlatformReport {
    let digest = digest(&format!("{repo} {index} {name}"));
    let attestation = match state {
        PlatformState::NoAttestation => Found::None,
        PlatformState::LegacyOnly => Found::Legacy,
        _ => Found::Artifact,
    };
    let discoverable = match state {
        PlatformState::DiscoverableApi | PlatformState::SubjectMismatch => Via::Api,
        PlatformState::DiscoverableTag => Via::Tag,
        PlatformState::DiscoverableLayout => Via::Layout,
        _ => Via::None,
    };
    let reasons: Vec<String> = match state {
        PlatformState::ListingFailed => {
            vec!["referrers could not be listed: HTTP 500 Internal Server Error".into()]
        }
        PlatformState::NoAttestation => vec!["no attestation".into()],
        PlatformState::LegacyOnly => vec![
            "legacy attestation only: not discoverable as a referrer (run referrify convert)"
                .into(),
        ],
        PlatformState::NotDiscoverable => vec![
            "attestation artifact exists but is not listed as a referrer (run referrify convert)"
                .into(),
        ],
        PlatformState::SubjectMismatch => vec![format!(
            "layer {} of {} ({SLSA}): in-toto subject does not name this manifest",
            digest.short(),
            index.short()
        )],
        _ => vec![],
    };
    let fix = matches!(
        state,
        PlatformState::LegacyOnly | PlatformState::NotDiscoverable
    )
    .then(|| format!("referrify convert {REGISTRY}/{repo}@{index}"));
    PlatformReport {
        platform: name.into(),
        attestation,
        discoverable,
        referrers: if discoverable == Via::None {
            vec![]
        } else {
            vec![Digest::sha256(digest.as_str().as_bytes())]
        },
        predicate_types: if attestation == Found::None {
            vec![]
        } else {
            vec![SPDX.into(), SLSA.into()]
        },
        subjects_match: match state {
            PlatformState::SubjectMismatch => Some(false),
            s if s.is_covered() => Some(true),
            _ => None,
        },
        statements: vec![],
        covered: state.is_covered(),
        state,
        reasons,
        confirm: format!(
            "oras discover --artifact-type application/vnd.docker.attestation.manifest.v1+json {REGISTRY}/{repo}@{digest}"
        ),
        fix,
        warnings: vec![],
        supply: Default::default(),
        digest,
    }
}

fn image(repo: &str, tags: &[&str], platforms: &[(&str, PlatformState)]) -> CheckImage {
    let index = digest(&format!("{repo}:{}", tags.join(",")));
    CheckImage {
        reference: format!("{REGISTRY}/{repo}:{}", tags[0]),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        error: None,
        platforms: platforms
            .iter()
            .map(|(p, s)| platform(repo, &index, p, *s))
            .collect(),
        problems: vec![],
        digest: Some(index),
    }
}

fn report(registry: &str, repositories: Vec<RepositoryCoverage>) -> RegistryCheckReport {
    let mut summary = CoverageSummary::default();
    for r in &repositories {
        summary.add(r);
    }
    summary.requests = 4 * summary.platforms as u64 + 3;
    let mut r = RegistryCheckReport::of(registry.into(), true, repositories, 0, 0);
    r.summary.requests = summary.requests;
    r
}

fn coverage(
    repository: impl Into<String>,
    error: Option<String>,
    images: Vec<CheckImage>,
) -> RepositoryCoverage {
    let mut c = RepositoryCoverage::of_images(repository.into(), images);
    c.error = error;
    c
}

/// Three readable repositories with every state, an image with a broken index entry, an image
/// that could not be read, and a repository whose tags could not be listed.
fn realistic() -> RegistryCheckReport {
    use PlatformState::*;
    let mut old = image("team/web", &["old"], &[("linux/amd64", NoAttestation)]);
    old.problems.push(Problem {
        digest: digest("dangling"),
        message: "attestation entry names sha256:0000… which is not in the index".into(),
    });
    let mut broken = image("tools/builder", &["broken"], &[]);
    broken.error = Some("reading the index: HTTP 404 MANIFEST_UNKNOWN".into());
    report(
        REGISTRY,
        vec![
            coverage(
                "team/api",
                None,
                vec![
                    image(
                        "team/api",
                        &["1.4", "latest"],
                        &[
                            ("linux/amd64", DiscoverableApi),
                            ("linux/arm64", DiscoverableApi),
                        ],
                    ),
                    image(
                        "team/api",
                        &["1.3"],
                        &[("linux/amd64", LegacyOnly), ("linux/arm64", LegacyOnly)],
                    ),
                ],
            ),
            coverage(
                "team/web",
                None,
                vec![
                    image(
                        "team/web",
                        &["main"],
                        &[
                            ("linux/amd64", DiscoverableTag),
                            ("linux/arm/v7", NotDiscoverable),
                        ],
                    ),
                    old,
                ],
            ),
            coverage(
                "tools/builder",
                None,
                vec![
                    image(
                        "tools/builder",
                        &["v2"],
                        &[
                            ("linux/amd64", SubjectMismatch),
                            ("linux/arm64", ListingFailed),
                            ("linux/s390x", DiscoverableLayout),
                        ],
                    ),
                    broken,
                ],
            ),
            coverage(
                "legacy/archive",
                Some(
                    "listing tags: HTTP 403 DENIED: requested access to the resource is denied"
                        .into(),
                ),
                vec![],
            ),
        ],
    )
}

/// `repositories × images × platforms` rows; the states cycle, so every fourth row or so is
/// covered.
fn big(repositories: usize) -> RegistryCheckReport {
    const CYCLE: [PlatformState; 5] = [
        PlatformState::DiscoverableApi,
        PlatformState::LegacyOnly,
        PlatformState::DiscoverableTag,
        PlatformState::NoAttestation,
        PlatformState::DiscoverableApi,
    ];
    let mut n = 0;
    let mut next = || {
        n += 1;
        CYCLE[n % CYCLE.len()]
    };
    let repos = (0..repositories)
        .map(|i| {
            let repo = format!("org{:02}/service-{i:04}", i % 37);
            let images = (0..2)
                .map(|j| {
                    let tag = format!("1.{j}");
                    image(
                        &repo,
                        &[&tag],
                        &[("linux/amd64", next()), ("linux/arm64", next())],
                    )
                })
                .collect();
            coverage(repo, None, images)
        })
        .collect();
    report(REGISTRY, repos)
}

/// `(repository, platform, state)` of every row, in the page's default order: gaps first
/// (the state's order), then repository, then platform.
fn expected_rows(r: &RegistryCheckReport) -> Vec<(String, String, PlatformState)> {
    let mut rows: Vec<_> = r
        .repositories
        .iter()
        .flat_map(|repo| {
            repo.images.iter().flat_map(move |i| {
                i.platforms
                    .iter()
                    .map(move |p| (repo.repository.clone(), p.platform.clone(), p.state))
            })
        })
        .collect();
    rows.sort_by(|a, b| (a.2, &a.0, &a.1).cmp(&(b.2, &b.0, &b.1)));
    rows
}

// ------------------------------------------------------------------------------------------------
// the page in a browser

/// The rendered page, written to a temp dir, open in a fresh browser.
struct Page {
    browser: Browser,
    _dir: tempfile::TempDir,
}

async fn open(report: &RegistryCheckReport) -> Page {
    let dir = tempfile::Builder::new()
        .prefix("referrify-html-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("coverage.html");
    std::fs::write(&path, html::render(report)).unwrap();
    let browser = Browser::start().await;
    browser.goto(&file_url(&path)).await;
    Page { browser, _dir: dir }
}

/// The visible rows as `{repo, platform, state, badge, gap}`.
const VISIBLE_ROWS: &str = r#"
return Array.from(document.querySelectorAll('#coverage-table tbody tr.row'))
  .filter(tr => tr.getClientRects().length > 0)
  .map(tr => ({
    repo: tr.cells[0].textContent,
    platform: tr.cells[3].textContent,
    state: tr.dataset.state,
    badge: tr.querySelector('td .badge').textContent,
    gap: tr.dataset.gap,
  }));
"#;

async fn visible_rows(b: &Browser) -> Vec<Value> {
    b.execute(VISIBLE_ROWS, json!([]))
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn column(b: &Browser, key: &str) -> Vec<String> {
    visible_rows(b)
        .await
        .iter()
        .map(|r| r[key].as_str().unwrap().to_string())
        .collect()
}

async fn header(b: &Browser, key: &str) -> Element {
    b.find(&format!("#coverage-table thead th[data-key=\"{key}\"]"))
        .await
}

async fn row_count(b: &Browser) -> String {
    let el = b.find("#row-count").await;
    b.text(&el).await
}

/// Console messages at level SEVERE (script errors, CSP violations, failed loads).
async fn severe_console(b: &Browser) -> Vec<Value> {
    b.console_log()
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect()
}

async fn assert_no_network(b: &Browser) {
    let v = b
        .execute(
            "return {resources: performance.getEntriesByType('resource').length, \
             protocol: location.protocol}",
            json!([]),
        )
        .await;
    assert_eq!(v["protocol"], "file:", "{v}");
    assert_eq!(v["resources"], 0, "the page loaded resources: {v}");
}

fn state_names(rows: &[(String, String, PlatformState)]) -> Vec<String> {
    rows.iter().map(|r| r.2.as_str().to_string()).collect()
}

// ------------------------------------------------------------------------------------------------
// tests

#[tokio::test]
async fn the_page_shows_totals_rows_commands_and_failures() {
    let r = realistic();
    let s = &r.summary;
    assert_eq!((s.platforms, s.covered, s.uncovered), (10, 4, 6));
    let page = open(&r).await;
    let b = &page.browser;

    let title = b.execute("return document.title", json!([])).await;
    assert_eq!(title, format!("Attestation coverage of {REGISTRY}"));
    let h1 = b.find("h1").await;
    assert!(b.text(&h1).await.contains(REGISTRY));

    // totals: every card equals the summary
    let cards = [
        ("platforms", s.platforms),
        ("covered", s.covered),
        ("uncovered", s.uncovered),
        ("repositories", s.repositories),
        ("images", s.images),
        ("failed-repositories", s.failed_repositories),
        ("failed-images", s.failed_images),
    ];
    for (key, want) in cards {
        let el = b
            .find(&format!("#totals [data-total=\"{key}\"] .value"))
            .await;
        assert_eq!(b.text(&el).await, want.to_string(), "total {key}");
    }
    assert_eq!((s.repositories, s.images), (4, 6));
    assert_eq!((s.failed_repositories, s.failed_images), (1, 1));
    let coverage = b.find("#totals [data-total=\"coverage\"] .value").await;
    assert_eq!(b.text(&coverage).await, "40.0%");
    for state in [
        PlatformState::ListingFailed,
        PlatformState::NoAttestation,
        PlatformState::LegacyOnly,
        PlatformState::NotDiscoverable,
        PlatformState::SubjectMismatch,
        PlatformState::DiscoverableApi,
        PlatformState::DiscoverableTag,
        PlatformState::DiscoverableLayout,
    ] {
        let want = s.states.get(&state).copied().unwrap_or(0);
        assert!(want > 0, "the report has every state");
        let el = b
            .find(&format!(
                "#totals .state-card[data-state=\"{}\"] .value",
                state.as_str()
            ))
            .await;
        assert_eq!(b.text(&el).await, want.to_string(), "{}", state.as_str());
    }
    // states have distinct colours: covered green-ish, gaps warm, failures grey/purple
    let colours = b
        .execute(
            "return Object.fromEntries(Array.from(document.querySelectorAll('#totals .state-card'))\
             .map(c => [c.dataset.state, getComputedStyle(c).getPropertyValue('--c').trim()]))",
            json!([]),
        )
        .await;
    let colours = colours.as_object().unwrap();
    assert_eq!(colours.len(), 8, "{colours:?}");
    let distinct: std::collections::BTreeSet<_> = colours.values().map(|v| v.to_string()).collect();
    assert_eq!(distinct.len(), 8, "{colours:?}");

    // one row per platform, in the default order, with matching state and badge
    let want = expected_rows(&r);
    let rows = visible_rows(b).await;
    assert_eq!(rows.len(), s.platforms);
    assert_eq!(b.find_all("#coverage-table tbody tr.row").await.len(), 10);
    assert_eq!(row_count(b).await, "10 of 10 rows");
    for (row, (repo, platform, state)) in rows.iter().zip(&want) {
        assert_eq!(row["repo"], repo.as_str(), "{row}");
        assert_eq!(row["platform"], platform.as_str(), "{row}");
        assert_eq!(row["state"], state.as_str(), "{row}");
        assert_eq!(row["badge"], state.as_str(), "{row}");
        assert_eq!(row["gap"], if state.is_covered() { "0" } else { "1" });
    }
    assert_eq!(rows[0]["state"], "listing-failed");
    assert_eq!(rows[9]["state"], "discoverable-layout");

    // the fix and confirm commands of a gap are visible in its row
    let api = r.repositories.iter().find(|x| x.repository == "team/api");
    let legacy = &api.unwrap().images[1];
    let amd64 = &legacy.platforms[0];
    let row = b
        .execute(
            "return Array.from(document.querySelectorAll('tbody tr.row'))\
             .find(tr => tr.cells[0].textContent === arguments[0] && tr.cells[3].textContent === arguments[1] && tr.dataset.state === 'legacy-only')",
            json!(["team/api", "linux/amd64"]),
        )
        .await;
    let row = Element(
        row["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .expect("the legacy-only row")
            .to_string(),
    );
    let fix = b.find_in(&row, ".cmd.fix code").await;
    assert!(b.displayed(&fix).await);
    assert_eq!(b.text(&fix).await, amd64.fix.clone().unwrap());
    let confirm = b.find_in(&row, ".cmd.confirm code").await;
    assert_eq!(b.text(&confirm).await, amd64.confirm);
    // every command is shown whole: it wraps, nothing is cut off with an ellipsis
    for code in [&fix, &confirm] {
        assert!(b.shows_whole(code).await, "a command is cut off");
    }
    let reason = b.find_in(&row, ".reasons li").await;
    assert_eq!(b.text(&reason).await, amd64.reasons[0]);
    let image_digest = b.find_in(&row, "td:nth-child(3) span").await;
    let index = legacy.digest.as_ref().unwrap();
    assert_eq!(b.text(&image_digest).await, &index.encoded()[..12]);
    assert_eq!(
        b.attr(&image_digest, "title").await.as_deref(),
        Some(index.as_str())
    );
    let tags = b.find_in(&row, "td:nth-child(2)").await;
    assert_eq!(b.text(&tags).await, "1.3");

    // a gap without a fix shows no fix command
    let none = b
        .execute(
            "return Array.from(document.querySelectorAll('tbody tr.row[data-state=\"no-attestation\"]'))\
             .map(tr => [tr.querySelectorAll('.cmd.fix').length, tr.querySelectorAll('.cmd.confirm').length])",
            json!([]),
        )
        .await;
    assert_eq!(none, json!([[0, 1]]));

    // copying works, or at least does not throw, with and without the clipboard API
    let copy = b.find_in(&row, ".cmd.fix button.copy").await;
    b.click(&copy).await;
    wait_copied(b, &copy).await;
    b.execute(
        "Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true})",
        json!([]),
    )
    .await;
    let copy = b.find_in(&row, ".cmd.confirm button.copy").await;
    b.click(&copy).await;
    wait_copied(b, &copy).await;

    // what could not be checked
    let failures = b
        .execute(
            "return Array.from(document.querySelectorAll('#failures tr.failure'))\
             .map(tr => [tr.dataset.kind, tr.cells[0].textContent, tr.cells[3].textContent])",
            json!([]),
        )
        .await;
    let web = r.repositories.iter().find(|x| x.repository == "team/web");
    let problem = &web.unwrap().images[1].problems[0];
    assert_eq!(
        failures,
        json!([
            [
                "repository",
                "legacy/archive",
                "listing tags: HTTP 403 DENIED: requested access to the resource is denied"
            ],
            [
                "problem",
                "team/web",
                format!("{}: {}", problem.digest.short(), problem.message)
            ],
            [
                "image",
                "tools/builder",
                "reading the index: HTTP 404 MANIFEST_UNKNOWN"
            ],
        ])
    );
    let h2 = b.find("#failures h2").await;
    assert_eq!(b.text(&h2).await, "Could not be checked 3");

    assert_no_network(b).await;
    let severe = severe_console(b).await;
    assert!(severe.is_empty(), "console errors: {severe:?}");

    b.execute("window.scrollTo(0, 0)", json!([])).await;
    b.screenshot(&artifact("html-report.png")).await;
    b.execute(
        "document.getElementById('coverage-table').scrollIntoView()",
        json!([]),
    )
    .await;
    b.screenshot(&artifact("html-report-table.png")).await;
    b.execute(
        "document.getElementById('failures').scrollIntoView()",
        json!([]),
    )
    .await;
    b.screenshot(&artifact("html-report-failures.png")).await;
    page.browser.quit().await;
}

/// Waits for the copy button's feedback (`done`: copied, `failed`: the text was selected).
async fn wait_copied(b: &Browser, copy: &Element) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let class = b.attr(copy, "class").await.unwrap_or_default();
        if class.contains("done") || class.contains("failed") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the copy button gave no feedback: class {class:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let severe = severe_console(b).await;
    assert!(severe.is_empty(), "copying logged errors: {severe:?}");
}

#[tokio::test]
async fn headers_sort_and_the_filter_narrows_the_rows() {
    let r = realistic();
    let page = open(&r).await;
    let b = &page.browser;
    let want = expected_rows(&r);

    // state: gaps first, then the other way round
    let state = header(b, "state").await;
    assert_eq!(b.attr(&state, "aria-sort").await, None);
    b.click(&state).await;
    assert_eq!(column(b, "state").await, state_names(&want));
    assert_eq!(
        b.attr(&state, "aria-sort").await.as_deref(),
        Some("ascending")
    );
    let arrow = b
        .execute(
            "return getComputedStyle(arguments[0].querySelector('.arrow'), '::after').content",
            json!([state.arg()]),
        )
        .await;
    assert_eq!(arrow, "\"\u{25B2}\"");
    let first = column(b, "gap").await;
    assert!(first[..6].iter().all(|g| g == "1") && first[6..].iter().all(|g| g == "0"));

    b.click(&state).await;
    let mut reversed = state_names(&want);
    reversed.reverse();
    assert_eq!(column(b, "state").await, reversed);
    assert_eq!(
        b.attr(&state, "aria-sort").await.as_deref(),
        Some("descending")
    );
    assert_eq!(column(b, "gap").await[0], "0");

    // repository: by name; ties keep the default order (gaps first)
    let repo = header(b, "repository").await;
    b.click(&repo).await;
    let mut by_repo = want.clone();
    by_repo.sort_by(|a, b| a.0.cmp(&b.0));
    let rows = visible_rows(b).await;
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["repo"].as_str().unwrap().into(),
                r["platform"].as_str().unwrap().into(),
                r["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect: Vec<(String, String, String)> = by_repo
        .iter()
        .map(|(r, p, s)| (r.clone(), p.clone(), s.as_str().into()))
        .collect();
    assert_eq!(got, expect);
    assert_eq!(got[0].0, "team/api");
    assert_eq!(got[9].0, "tools/builder");
    assert_eq!(
        b.attr(&repo, "aria-sort").await.as_deref(),
        Some("ascending")
    );
    assert_eq!(b.attr(&state, "aria-sort").await, None);
    b.click(&repo).await;
    assert_eq!(column(b, "repo").await[0], "tools/builder");

    // platform sorts by its data-sort key too
    let platform = header(b, "platform").await;
    b.click(&platform).await;
    let platforms = column(b, "platform").await;
    let mut sorted = platforms.clone();
    sorted.sort();
    assert_eq!(platforms, sorted);

    // filter: substring, then gaps only, then gaps only alone
    let web_rows = want.iter().filter(|w| w.0 == "team/web").count();
    let web_gaps = want
        .iter()
        .filter(|w| w.0 == "team/web" && !w.2.is_covered())
        .count();
    let gaps = want.iter().filter(|w| !w.2.is_covered()).count();
    assert_eq!((web_rows, web_gaps, gaps), (3, 2, 6));

    let filter = b.find("#filter").await;
    b.type_text(&filter, "TEAM/web").await;
    assert_eq!(visible_rows(b).await.len(), web_rows);
    assert!(column(b, "repo").await.iter().all(|r| r == "team/web"));
    assert_eq!(row_count(b).await, "3 of 10 rows");

    let gaps_only = b.find("#gaps-only").await;
    b.click(&gaps_only).await;
    assert_eq!(visible_rows(b).await.len(), web_gaps);
    assert_eq!(row_count(b).await, "2 of 10 rows");

    b.clear_text(&filter).await;
    assert_eq!(visible_rows(b).await.len(), gaps);
    assert!(column(b, "gap").await.iter().all(|g| g == "1"));
    assert_eq!(row_count(b).await, "6 of 10 rows");
    // zebra stripes follow the visible rows
    let alt = b
        .execute(
            "return Array.from(document.querySelectorAll('tbody tr.row')).filter(tr => !tr.hidden)\
             .map(tr => tr.classList.contains('alt'))",
            json!([]),
        )
        .await;
    assert_eq!(alt, json!([false, true, false, true, false, true]));
    b.execute("window.scrollTo(0, 0)", json!([])).await;
    b.screenshot(&artifact("html-report-gaps.png")).await;

    // sorting keeps the filter
    b.click(&state).await;
    assert_eq!(row_count(b).await, "6 of 10 rows");

    b.type_text(&filter, "no-such-thing").await;
    assert_eq!(visible_rows(b).await.len(), 0);
    assert_eq!(row_count(b).await, "0 of 10 rows");
    let empty = b.find("#no-rows").await;
    assert!(b.displayed(&empty).await);

    b.clear_text(&filter).await;
    b.click(&gaps_only).await;
    assert_eq!(row_count(b).await, "10 of 10 rows");
    assert!(!b.displayed(&empty).await);

    let severe = severe_console(b).await;
    assert!(severe.is_empty(), "console errors: {severe:?}");
    page.browser.quit().await;
}

#[tokio::test]
async fn registry_values_render_as_text_and_run_nothing() {
    let hostile =
        r#"<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"#.to_string();
    let mut img = image(
        "evil",
        &["\"><script>window.__pwned=3</script>"],
        &[("linux/amd64", PlatformState::LegacyOnly)],
    );
    let p = &mut img.platforms[0];
    p.platform = "linux/<b>amd64</b>".into();
    p.reasons = vec!["</td></tr><script>window.__pwned=4</script>".into()];
    p.fix = Some("referrify convert 'x' onmouseover='window.__pwned=5'".into());
    p.predicate_types = vec!["javascript:window.__pwned=6".into()];
    img.problems.push(Problem {
        digest: digest("p"),
        message: "<svg onload=window.__pwned=7>".into(),
    });
    let r = report(
        "evil.example/<style>body{display:none}</style>",
        vec![coverage(
            hostile.clone(),
            Some("<iframe src=\"https://example.com/\"></iframe>".into()),
            vec![img],
        )],
    );
    let html = html::render(&r);
    assert!(!html.contains("<script>window"));
    let page = open(&r).await;
    let b = &page.browser;

    let v = b
        .execute(
            "return {pwned: typeof window.__pwned, scripts: document.scripts.length, \
             styles: document.querySelectorAll('style').length, \
             injected: document.querySelectorAll('img, svg, iframe, b').length, \
             rows: document.querySelectorAll('tbody tr.row').length, title: document.title}",
            json!([]),
        )
        .await;
    assert_eq!(
        v,
        json!({"pwned": "undefined", "scripts": 1, "styles": 1, "injected": 0, "rows": 1,
               "title": "Attestation coverage of evil.example/<style>body{display:none}</style>"})
    );
    let repo = b.find("tbody tr.row td.repo").await;
    assert_eq!(b.text(&repo).await, hostile);
    let platform = b.find("tbody tr.row td.platform").await;
    assert_eq!(b.text(&platform).await, "linux/<b>amd64</b>");
    let fix = b.find("tbody tr.row .cmd.fix code").await;
    assert_eq!(
        b.text(&fix).await,
        "referrify convert 'x' onmouseover='window.__pwned=5'"
    );
    let reason = b.find("tbody tr.row .reasons li").await;
    assert_eq!(
        b.text(&reason).await,
        "</td></tr><script>window.__pwned=4</script>"
    );
    let failures = b.find_all("#failures tr.failure").await;
    assert_eq!(failures.len(), 2);
    let message = b.find("#failures tr.failure td.message").await;
    assert_eq!(
        b.text(&message).await,
        "<iframe src=\"https://example.com/\"></iframe>"
    );
    // the page still works
    let state = header(b, "state").await;
    b.click(&state).await;
    assert_eq!(row_count(b).await, "1 of 1 row");
    let pwned = b.execute("return typeof window.__pwned", json!([])).await;
    assert_eq!(pwned, "undefined");

    assert_no_network(b).await;
    b.screenshot(&artifact("html-report-hostile.png")).await;
    page.browser.quit().await;
}

#[tokio::test]
async fn an_8000_row_page_loads_sorts_and_filters() {
    let r = big(2000);
    assert_eq!(r.summary.platforms, 8000);
    let gaps = r.summary.uncovered;
    let t = Instant::now();
    let html = html::render(&r);
    let render = t.elapsed();
    let size = html.len();
    let page = open(&r).await;
    let b = &page.browser;
    let loaded = t.elapsed();

    assert_eq!(row_count(b).await, "8000 of 8000 rows");
    let n = b
        .execute(
            "return document.querySelectorAll('#coverage-table tbody tr.row').length",
            json!([]),
        )
        .await;
    assert_eq!(n, 8000);
    let first = b.find("tbody tr.row").await;
    assert_eq!(b.attr(&first, "data-gap").await.as_deref(), Some("1"));

    let t = Instant::now();
    let repo = header(b, "repository").await;
    b.click(&repo).await;
    let first = b.find("tbody tr.row td.repo").await;
    assert_eq!(b.text(&first).await, "org00/service-0000");
    let state = header(b, "state").await;
    b.click(&state).await;
    let first = b.find("tbody tr.row").await;
    assert_eq!(b.attr(&first, "data-gap").await.as_deref(), Some("1"));
    assert_eq!(
        b.attr(&first, "data-state").await.as_deref(),
        Some("no-attestation")
    );
    b.click(&state).await;
    let first = b.find("tbody tr.row").await;
    assert_eq!(b.attr(&first, "data-gap").await.as_deref(), Some("0"));
    let sorted = t.elapsed();

    let gaps_only = b.find("#gaps-only").await;
    b.click(&gaps_only).await;
    assert_eq!(row_count(b).await, format!("{gaps} of 8000 rows"));

    assert_no_network(b).await;
    b.execute("window.scrollTo(0, 1400)", json!([])).await;
    b.screenshot(&artifact("html-report-big.png")).await;
    eprintln!(
        "8000 rows: {size} bytes rendered in {render:?}, browser up and page loaded after \
         {loaded:?}, 3 sorts in {sorted:?}"
    );
    page.browser.quit().await;
}

/// End to end: `referrify check REGISTRY --html` against a real registry (docker-registry 2.8.2)
/// with one converted and one unconverted repository; the page Chromium shows matches the JSON
/// report of the same registry.
#[tokio::test]
async fn a_real_registry_check_renders_what_the_json_says() {
    let reg = common::Registry::distribution();
    let prefix = common::unique_repo("page");
    let (done, gap) = (format!("{prefix}/done"), format!("{prefix}/gap"));
    common::push_layout_raw(&reg, &common::fixtures::LEGACY_MULTI.dir(), &done, "multi");
    common::push_layout_raw(&reg, &common::fixtures::LEGACY_V1.dir(), &gap, "1");
    let out = common::cli::referrify(&["convert", &reg.reference(&format!("{done}:multi"))]);
    assert_eq!(common::cli::code(&out), 0, "{}", common::cli::explain(&out));
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("coverage.html");
    let repo_arg = format!("{prefix}/");
    let out = common::cli::referrify(&[
        "check",
        &reg.addr,
        "--repo",
        &repo_arg,
        "--format",
        "json",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(common::cli::code(&out), 3, "{}", common::cli::explain(&out));
    let lines = common::cli::json_lines(&out);
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["platforms"], 3);
    let b = Browser::start().await;
    b.goto(&file_url(&page)).await;
    // A registry's page rolls every repository up and lists the platforms of the images with a
    // gap: here the unconverted image's amd64 only.
    let rows = visible_rows(&b).await;
    let states: Vec<&str> = rows.iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["legacy-only"]);
    assert_eq!(rows[0]["repo"], gap.as_str());
    let rollup = b.text(&b.find("section.rollup").await).await;
    assert!(
        rollup.contains(done.as_str()) && rollup.contains(gap.as_str()),
        "{rollup}"
    );
    let fix = lines
        .iter()
        .find(|l| l["type"] == "image" && l["repository"] == gap.as_str())
        .unwrap()["platforms"][0]["fix"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = b
        .execute(
            "return Array.from(document.querySelectorAll('code')).map(c => c.textContent).join('\\n')",
            json!([]),
        )
        .await;
    assert!(
        shown.as_str().unwrap().contains(&fix),
        "{fix} not on the page"
    );
    let totals = b.find("#totals").await;
    let text = b.text(&totals).await;
    assert!(
        text.contains("66.6%") && text.contains("2 of 3 platforms"),
        "{text}"
    );
    assert_no_network(&b).await;
    b.screenshot(&artifact("html-report-real-registry.png"))
        .await;
    b.quit().await;
}
