//! The "Could not be checked" section: repositories, images and index entries that failed.

use super::escape;
use crate::report::{CheckImage, RegistryCheckReport};
use std::fmt::Write as _;

/// The "Could not be checked" section: failed repositories, failed images, broken entries.
pub(super) fn failures(out: &mut String, report: &RegistryCheckReport) {
    let rows = failure_rows(report);
    let n = rows.len();
    let items = rows.concat();
    let _ = write!(
        out,
        r#"<section id="failures" aria-labelledby="failures-h">
<h2 id="failures-h">Could not be checked <span class="count">{n}</span></h2>
"#
    );
    if n == 0 {
        out.push_str(
            "<p class=\"empty\">Every repository and image could be read.</p>\n</section>\n",
        );
    } else {
        let _ = write!(
            out,
            "<table class=\"failures\">\n<thead><tr><th scope=\"col\">Repository</th><th scope=\"col\">Image</th><th scope=\"col\">What</th><th scope=\"col\">Message</th></tr></thead>\n<tbody>\n{items}</tbody>\n</table>\n</section>\n"
        );
    }
}

/// One row per failure, in catalog order.
fn failure_rows(report: &RegistryCheckReport) -> Vec<String> {
    let mut rows = Vec::new();
    for repo in &report.repositories {
        let name = escape(&repo.repository);
        if let Some(e) = &repo.error {
            let whole = r#"<span class="muted">whole repository</span>"#;
            rows.push(row("repository", &name, whole, "repository", &escape(e)));
        }
        for image in &repo.images {
            let label = image_label(image);
            if let Some(e) = &image.error {
                rows.push(row("image", &name, &label, "image", &escape(e)));
            }
            for problem in &image.problems {
                let message = format!(
                    r#"<span class="mono" title="{}">{}</span>: {}"#,
                    escape(problem.digest.as_str()),
                    escape(&problem.digest.short()),
                    escape(&problem.message),
                );
                rows.push(row("problem", &name, &label, "index entry", &message));
            }
        }
    }
    rows
}

/// One `<tr>` line: `kind` for the markup, `what` for people; `repo`, `image` and `message`
/// are HTML already.
fn row(kind: &str, repo: &str, image: &str, what: &str, message: &str) -> String {
    let mut row = String::new();
    let _ = writeln!(
        row,
        r#"<tr class="failure" data-kind="{kind}"><td class="repo">{repo}</td><td>{image}</td><td><span class="badge fail">{what}</span></td><td class="message">{message}</td></tr>"#
    );
    row
}

/// An image for people: its tags and short digest, else the reference as given (escaped).
fn image_label(image: &CheckImage) -> String {
    let mut s = String::new();
    if !image.tags.is_empty() {
        s.push_str(&escape(&image.tags.join(", ")));
    } else {
        s.push_str(&escape(&image.reference));
    }
    if let Some(d) = &image.digest {
        let _ = write!(
            s,
            r#" <span class="mono muted" title="{}">{}</span>"#,
            escape(d.as_str()),
            escape(&d.short())
        );
    }
    s
}
