//! The per-repository roll-up of a registry check: one compact row per repository with its
//! counts (the platform table below shows only the gaps, up to a cap), and where the rows that
//! are not shown can be listed.

use super::escape;
use crate::report::commands::list_all;
use crate::report::RegistryCheckReport;
use std::fmt::Write as _;

/// The "Repositories" section (registry checks only).
pub(super) fn rollup(out: &mut String, report: &RegistryCheckReport) {
    if !report.walked {
        return;
    }
    let n = report.repositories.len();
    let _ = write!(
        out,
        r#"<section class="rollup" aria-labelledby="rollup-h">
<h2 id="rollup-h">Repositories ({n})</h2>
<table class="rollup"><thead><tr><th scope="col">Repository</th><th scope="col" class="num">Images</th><th scope="col" class="num">Platforms</th><th scope="col" class="num">Covered</th><th scope="col" class="num">Gaps</th><th scope="col">States</th></tr></thead>
<tbody>
"#
    );
    for r in &report.repositories {
        let t = &r.totals;
        let states = match &r.error {
            Some(e) => format!(r#"<span class="fail">error: {}</span>"#, escape(e)),
            None => t
                .states
                .iter()
                .map(|(s, k)| format!("{}&nbsp;{k}", s.as_str()))
                .collect::<Vec<_>>()
                .join(" · "),
        };
        let _ = writeln!(
            out,
            r#"<tr class="{tone}"><td>{repo}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{states}</td></tr>"#,
            t.images,
            t.platforms,
            t.covered,
            t.uncovered,
            tone = if r.error.is_some() || t.failed_images > 0 {
                "fail"
            } else if t.uncovered > 0 {
                "gap"
            } else {
                "ok"
            },
            repo = escape(&r.repository),
        );
    }
    out.push_str("</tbody></table>\n");
    if report.gaps_not_shown > 0 {
        let _ = writeln!(
            out,
            r#"<p class="not-shown">{} more platform manifest{} with a gap {} not shown below; list every image with <code>{}</code></p>"#,
            report.gaps_not_shown,
            if report.gaps_not_shown == 1 { "" } else { "s" },
            if report.gaps_not_shown == 1 {
                "is"
            } else {
                "are"
            },
            escape(&list_all(&report.registry)),
        );
    }
    out.push_str("</section>\n");
}
