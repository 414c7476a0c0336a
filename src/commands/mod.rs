//! The commands: each reads, plans, acts and reports through the other modules. This is the only
//! place that connects the stages.

pub mod check;
pub mod convert;
pub mod migrate;
pub mod undo;

use crate::cli::{Cli, Command, Global, Targets};
use crate::exit::Exit;
use crate::model::metadata;
use crate::model::reference::{ImageRef, RegistryRef};
use crate::store::layout::LayoutStore;
use crate::store::registry::{RegistryState, RegistryStore};
use crate::store::{Store, StoreError};
use crate::transport::credentials::auth_key;
use crate::transport::retry::RetryPolicy;
use crate::transport::{Client, ClientOptions};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared state of one run: options and one HTTP client per registry host.
pub struct Context {
    /// Global options.
    pub global: Global,
    /// Whether tokens should carry push access.
    pub push: bool,
    clients: Mutex<HashMap<String, (Client, Arc<RegistryState>)>>,
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

    /// The client for a registry (one per host and run: one connection pool, one token cache,
    /// one request limit) and what the run knows about the registry.
    fn client(&self, r: &RegistryRef) -> Result<(Client, Arc<RegistryState>), StoreError> {
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
        let c = (
            Client::new(&host, &auth_key(&r.registry), &opts)?,
            Arc::default(),
        );
        clients.insert(host, c.clone());
        Ok(c)
    }

    /// Opens the store an image reference names.
    pub fn open(&self, r: &ImageRef) -> Result<Store, StoreError> {
        match r {
            ImageRef::Registry(rr) => {
                let (client, registry) = self.client(rr)?;
                Ok(Store::Registry(RegistryStore::with_state(
                    client,
                    rr.clone(),
                    Arc::default(),
                    registry,
                )))
            }
            ImageRef::Layout(l) => Ok(Store::Layout(LayoutStore::open(l.clone())?)),
        }
    }

    /// The client of a registry named on its own (registry-wide commands).
    pub fn registry_client(&self, registry: &str) -> Result<Client, StoreError> {
        Ok(self.client(&RegistryRef::repository(registry, "_"))?.0)
    }

    /// A store for one repository of a registry walk; every image of the repository shares it.
    pub fn repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<RegistryStore, StoreError> {
        let r = RegistryRef::repository(registry, repository);
        let (client, state) = self.client(&r)?;
        Ok(RegistryStore::with_state(client, r, Arc::default(), state))
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
        Command::Check(a) => {
            let ctx = Context::new(cli.global.clone(), false);
            check::run(&ctx, a, refs, out).await
        }
        Command::Migrate(_) | Command::Undo(_) => Exit::Usage,
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
