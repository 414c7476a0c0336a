//! The "Could not be checked" section: repositories, images and index entries that failed.

use super::escape;
use crate::report::{CheckImage, RegistryCheckReport};
use std::fmt::Write as _;

/// The "Could not be checked" section: failed repositories, failed images, broken entries.
pub(super) fn failures(out: &mut String, report: &RegistryCheckReport) {
    let mut items = String::new();
    let mut n = 0usize;
    for repo in &report.repositories {
        let name = escape(&repo.repository);
        if let Some(e) = &repo.error {
            n += 1;
            let _ = writeln!(
                items,
                r#"<tr class="failure" data-kind="repository"><td class="repo">{name}</td><td><span class="muted">whole repository</span></td><td><span class="badge fail">repository</span></td><td class="message">{}</td></tr>"#,
                escape(e)
            );
        }
        for image in &repo.images {
            let label = image_label(image);
            if let Some(e) = &image.error {
                n += 1;
                let _ = writeln!(
                    items,
                    r#"<tr class="failure" data-kind="image"><td class="repo">{name}</td><td>{label}</td><td><span class="badge fail">image</span></td><td class="message">{}</td></tr>"#,
                    escape(e)
                );
            }
            for problem in &image.problems {
                n += 1;
                let _ = writeln!(
                    items,
                    r#"<tr class="failure" data-kind="problem"><td class="repo">{name}</td><td>{label}</td><td><span class="badge fail">index entry</span></td><td class="message"><span class="mono" title="{full}">{short}</span>: {msg}</td></tr>"#,
                    full = escape(problem.digest.as_str()),
                    short = escape(&problem.digest.short()),
                    msg = escape(&problem.message),
                );
            }
        }
    }
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
