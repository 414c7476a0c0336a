//! Opens stores for a run: one HTTP client per registry host (one connection pool, one token
//! cache, one request limit) and one record of what the run learnt about each registry.

use super::layout::LayoutStore;
use super::registry::{RegistryState, RegistryStore};
use super::{Store, StoreError};
use crate::model::reference::{ImageRef, RegistryRef};
use crate::transport::credentials::auth_key;
use crate::transport::listing::{Cursor, Page};
use crate::transport::retry::RetryPolicy;
use crate::transport::{Client, ClientOptions};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to reach registries in this run.
#[derive(Debug, Clone, Default)]
pub struct StoresOptions {
    /// Plain HTTP even for hosts that are not on loopback.
    pub plain_http: bool,
    /// Attempts per request.
    pub retries: u32,
    /// Per-request timeout, in seconds.
    pub timeout: u64,
    /// Extra CA certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Requests in flight at once per registry.
    pub jobs: usize,
    /// Ask for push access in tokens (not needed for dry runs and checks).
    pub push: bool,
    /// Docker config file to read credentials from.
    pub docker_config: Option<PathBuf>,
}

/// The stores of one run.
pub struct Stores {
    options: StoresOptions,
    clients: Mutex<HashMap<String, (Client, Arc<RegistryState>)>>,
}

impl Stores {
    /// Nothing opened yet.
    pub fn new(options: StoresOptions) -> Stores {
        Stores {
            options,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, r: &RegistryRef) -> Result<(Client, Arc<RegistryState>), StoreError> {
        let host = r.api_host().to_string();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&host) {
            return Ok(c.clone());
        }
        let o = &self.options;
        let opts = ClientOptions {
            plain_http: o.plain_http,
            retry: RetryPolicy {
                max_attempts: o.retries.max(1),
                ..RetryPolicy::default()
            },
            timeout: Duration::from_secs(o.timeout.max(1)),
            ca_file: o.ca_file.clone(),
            max_concurrency: o.jobs.max(1),
            push: o.push,
            docker_config: o.docker_config.clone(),
        };
        let c = (
            Client::new(&host, &auth_key(&r.registry), &opts)?,
            Arc::default(),
        );
        clients.insert(host, c.clone());
        Ok(c)
    }

    /// The store an image reference names.
    pub fn open(&self, r: &ImageRef) -> Result<Store, StoreError> {
        match r {
            ImageRef::Registry(rr) => Ok(self.repository_of(rr.clone())?.into()),
            ImageRef::Layout(l) => Ok(LayoutStore::open(l.clone())?.into()),
        }
    }

    /// A store for one repository of a registry walk; every image of the repository shares it.
    pub fn repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<RegistryStore, StoreError> {
        self.repository_of(RegistryRef::repository(registry, repository))
    }

    fn repository_of(&self, r: RegistryRef) -> Result<RegistryStore, StoreError> {
        let (client, state) = self.client(&r)?;
        Ok(RegistryStore::new(client, r, state))
    }

    /// The catalog of a registry named on its own (registry-wide commands).
    pub fn registry(&self, registry: &str) -> Result<Catalog, StoreError> {
        Ok(Catalog {
            client: self.client(&RegistryRef::repository(registry, "_"))?.0,
        })
    }
}

/// A registry's catalog and its request count (registry-wide commands).
#[derive(Clone)]
pub struct Catalog {
    client: Client,
}

impl From<Client> for Catalog {
    fn from(client: Client) -> Catalog {
        Catalog { client }
    }
}

impl Catalog {
    /// One page of repository names.
    pub async fn page(&self, cursor: &Cursor) -> Result<Option<Page>, StoreError> {
        Ok(self.client.catalog_page(cursor).await?)
    }

    /// The registry host.
    pub fn host(&self) -> &str {
        self.client.host()
    }

    /// HTTP requests sent to this registry so far in the run (every repository included).
    pub fn requests(&self) -> u64 {
        self.client.request_count()
    }
}
