//! The commands: each reads, plans, acts and reports through the other modules. This is the only
//! place that connects the stages.

pub mod check;
pub mod convert;

use crate::cli::{Cli, Command, Global, Targets};
use crate::exit::Exit;
use crate::model::metadata;
use crate::model::reference::{ImageRef, RegistryRef};
use crate::store::layout::LayoutStore;
use crate::store::registry::RegistryStore;
use crate::store::{Store, StoreError};
use crate::transport::credentials::auth_key;
use crate::transport::retry::RetryPolicy;
use crate::transport::{Client, ClientOptions};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Shared state of one run: options and one HTTP client per registry host.
pub struct Context {
    /// Global options.
    pub global: Global,
    /// Whether tokens should carry push access.
    pub push: bool,
    clients: Mutex<HashMap<String, Client>>,
}

impl Context {
    /// A context for a run.
    pub fn new(global: Global, push: bool) -> Context {
        Context {
            global,
            push,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, r: &RegistryRef) -> Result<Client, StoreError> {
        let host = r.api_host().to_string();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&host) {
            return Ok(c.clone());
        }
        let g = &self.global;
        let opts = ClientOptions {
            plain_http: g.plain_http,
            retry: RetryPolicy {
                max_attempts: g.retries.max(1),
                ..RetryPolicy::default()
            },
            timeout: Duration::from_secs(g.timeout.max(1)),
            ca_file: g.ca_file.clone(),
            max_concurrency: g.jobs.max(1),
            push: self.push,
            docker_config: g.docker_config.clone(),
        };
        let c = Client::new(&host, &auth_key(&r.registry), &opts)?;
        clients.insert(host, c.clone());
        Ok(c)
    }

    /// Opens the store an image reference names.
    pub fn open(&self, r: &ImageRef) -> Result<Store, StoreError> {
        match r {
            ImageRef::Registry(rr) => Ok(Store::Registry(RegistryStore::new(
                self.client(rr)?,
                rr.clone(),
            ))),
            ImageRef::Layout(l) => Ok(Store::Layout(LayoutStore::open(l.clone())?)),
        }
    }
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
        Command::Check(a) => &a.targets,
    };
    let refs = match collect(targets) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("referrify: {}", crate::report::sanitize::sanitize(&e));
            return Exit::Usage;
        }
    };
    match &cli.command {
        Command::Convert(a) => {
            let ctx = Context::new(cli.global.clone(), !a.dry_run);
            convert::run(&ctx, a, refs, out).await
        }
        Command::Check(_) => {
            let ctx = Context::new(cli.global.clone(), false);
            check::run(&ctx, refs, out).await
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
