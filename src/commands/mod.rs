//! The commands: each parses its arguments, runs the engine (or the registry walk with the
//! engine inside) and prints the report. No command reads or writes a store itself.

pub mod check;
pub mod completions;
pub mod convert;
pub mod migrate;
pub mod notice;
pub mod serve;
pub mod undo;
pub mod watch;

use crate::cli::{Cli, Command, Global, Targets};
use crate::exit::Exit;
use crate::model::metadata;
use crate::model::reference::ImageRef;
use crate::store::{Stores, StoresOptions};
use std::io::Write;

/// One run: the global options and the stores it opens.
pub struct Context {
    /// Global options.
    pub global: Global,
    /// The run's stores (one client per registry host).
    pub stores: Stores,
}

impl Context {
    /// A context for a run; `push`: whether tokens should carry push access.
    pub fn new(global: Global, push: bool) -> Context {
        let stores = Stores::new(StoresOptions {
            plain_http: global.plain_http,
            retries: global.retries,
            timeout: global.timeout,
            ca_file: global.ca_file.clone(),
            jobs: global.jobs,
            push,
            docker_config: global.docker_config.clone(),
        });
        Context { global, stores }
    }

    /// Opens one repository of a registry walk and reads its first tag page (see
    /// [`crate::walk::repository`]).
    pub async fn repository(
        &self,
        registry: &str,
        name: &str,
        selection: &std::sync::Arc<crate::plan::scope::Selection>,
    ) -> Result<(crate::store::Store, crate::walk::Batches), String> {
        let jobs = self.global.jobs;
        crate::walk::repository(&self.stores, registry, name, selection.clone(), jobs).await
    }

    /// Whether progress bars may show (text output, not quiet; a terminal is checked later).
    pub fn progress(&self) -> bool {
        !self.global.quiet && self.global.format == crate::report::Format::Text
    }
}

/// Prints a usage error and returns its exit code.
fn usage(message: &str) -> Exit {
    eprintln!("referrify: {}", crate::report::sanitize::sanitize(message));
    Exit::Usage
}

/// Parses every reference named on the command line or in metadata files: `(as written, parsed)`.
pub fn collect(t: &Targets) -> Result<Vec<(String, ImageRef)>, String> {
    let mut texts: Vec<String> = t.refs.clone();
    for f in &t.metadata_file {
        let bytes = std::fs::read(f)
            .map_err(|e| format!("cannot read metadata file {}: {e}", f.display()))?;
        let refs = metadata::image_refs(&bytes).map_err(|e| format!("{}: {e}", f.display()))?;
        texts.extend(refs);
    }
    if texts.is_empty() {
        return Err("no image given: name at least one REF or --metadata-file".into());
    }
    let mut out = Vec::new();
    for t in texts {
        let r = ImageRef::parse(&t).map_err(|e| e.to_string())?;
        if !out.iter().any(|(_, x)| x == &r) {
            out.push((t, r));
        }
    }
    Ok(out)
}

/// Runs the parsed command line; writes the report to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> Exit {
    let targets = match &cli.command {
        Command::Convert(a) => &a.targets,
        Command::Check(a) => {
            if let Some(registry) = check::registry_target(a) {
                let ctx = Context::new(cli.global.clone(), false);
                return check::run_registry(&ctx, a, registry, out).await;
            }
            &a.targets
        }
        Command::Migrate(a) => {
            let ctx = Context::new(cli.global.clone(), !a.dry_run);
            return migrate::run(&ctx, a, out).await;
        }
        Command::Undo(a) => {
            let ctx = Context::new(cli.global.clone(), !a.dry_run);
            return undo::run(&ctx, a, out).await;
        }
        Command::Completions(a) => return completions::completions(a, out),
        Command::Man(a) => return completions::man(a, out),
        Command::Serve(a) => return serve::run(&Context::new(cli.global.clone(), true), a).await,
        Command::Watch(a) => {
            return watch::run(&Context::new(cli.global.clone(), true), a, out).await
        }
    };
    let refs = match collect(targets) {
        Ok(r) => r,
        Err(e) => return usage(&e),
    };
    match &cli.command {
        Command::Convert(a) => {
            let ctx = Context::new(cli.global.clone(), !a.dry_run);
            convert::run(&ctx, a, refs, out).await
        }
        Command::Check(a) => {
            let ctx = Context::new(cli.global.clone(), false);
            check::run(&ctx, a, refs, out).await
        }
        Command::Migrate(_)
        | Command::Undo(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Serve(_)
        | Command::Watch(_) => Exit::Usage,
    }
}

/// Where a streamed report goes: JSON lines as each image and repository finishes (the
/// repositories in flight all run on one task, so they share the writer), or text at the end.
pub struct Lines<'a> {
    out: std::cell::RefCell<&'a mut dyn Write>,
    format: crate::report::Format,
}

impl<'a> Lines<'a> {
    /// Lines to `out` in `format`.
    pub fn new(out: &'a mut dyn Write, format: crate::report::Format) -> Lines<'a> {
        Lines {
            out: std::cell::RefCell::new(out),
            format,
        }
    }

    /// Writes `value` as one JSON line (JSON output only).
    pub fn json<T: serde::Serialize>(&self, value: &T) {
        if self.format != crate::report::Format::Json {
            return;
        }
        let mut line = serde_json::to_string(value).unwrap_or_default();
        line.push('\n');
        self.write(line.as_bytes());
    }

    /// Writes the text `render` makes (text output only).
    pub fn text(&self, render: impl FnOnce() -> String) {
        if self.format == crate::report::Format::Text {
            self.write(render().as_bytes());
        }
    }

    fn write(&self, bytes: &[u8]) {
        if let Ok(mut out) = self.out.try_borrow_mut() {
            let _ = out.write_all(bytes);
            let _ = out.flush();
        }
    }
}

/// Writes a report as JSON or text.
fn emit<T: serde::Serialize>(
    out: &mut dyn Write,
    global: &Global,
    value: &T,
    text: impl FnOnce() -> String,
) {
    let s = match global.format {
        crate::report::Format::Json => {
            serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
        }
        crate::report::Format::Text => text(),
    };
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}
