//! What a command says on stderr besides its report, so that each thing is said once: on a
//! terminal, the text report on stdout already shows every per-image error; where stdout goes
//! to a file, a pipe or a JSON reader, stderr names the errors too.

use crate::cli::Global;
use crate::report::sanitize::sanitize;
use crate::report::Format;
use std::io::IsTerminal as _;
use std::path::Path;

/// Whether the text report on stdout is in front of a person already.
fn report_on_terminal(global: &Global) -> bool {
    global.format == Format::Text && std::io::stdout().is_terminal()
}

/// An image (or a repository, or the catalog) failed: logged on stderr unless the report on
/// the terminal shows it.
pub fn failed(global: &Global, what: &str, error: &str) {
    if report_on_terminal(global) {
        return;
    }
    if what.is_empty() {
        tracing::error!("{error}");
    } else {
        tracing::error!("{what}: {error}");
    }
}

/// A file was written (`--html FILE`): says where, unless `--quiet`.
pub fn wrote(global: &Global, what: &str, path: &Path) {
    if !global.quiet {
        eprintln!(
            "referrify: wrote {what} to {}",
            sanitize(&path.display().to_string())
        );
    }
}
