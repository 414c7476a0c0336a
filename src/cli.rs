//! The command line (clap derive only; no logic).

use crate::report::Format;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Make BuildKit's in-index attestations discoverable as OCI 1.1 referrers, and check coverage.
#[derive(Debug, Parser)]
#[command(
    name = "referrify",
    version = env!("REFERRIFY_VERSION"),
    about,
    long_about = None,
    after_help = "Exit codes: 0 success, 1 some image failed (the others were processed), 2 usage error, 3 check found platforms without a discoverable attestation."
)]
pub struct Cli {
    /// Options for every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
    /// Print nothing on stderr but errors (no progress bar).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail (-v: per-attestation details; -vv: debug logs on stderr).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Talk plain HTTP to every registry (a loopback registry without TLS gets it without this flag).
    #[arg(long, global = true)]
    pub plain_http: bool,
    /// Trust this CA certificate (PEM) in addition to the system's.
    #[arg(long, value_name = "FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Docker config file with credentials [default: $DOCKER_CONFIG/config.json or ~/.docker/config.json].
    #[arg(long, value_name = "FILE", global = true)]
    pub docker_config: Option<PathBuf>,
    /// Attempts per HTTP request for 429, 5xx and dropped connections.
    #[arg(long, default_value_t = 5, value_name = "N", global = true)]
    pub retries: u32,
    /// Timeout of one HTTP request, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS", global = true)]
    pub timeout: u64,
    /// HTTP requests in flight at once per registry.
    #[arg(
        short = 'j',
        long,
        default_value_t = 8,
        value_name = "N",
        global = true
    )]
    pub jobs: usize,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Push OCI 1.1 artifacts for legacy attestations and make them discoverable.
    #[command(after_help = crate::help::SHORT, after_long_help = crate::help::CONVERT)]
    Convert(ConvertArgs),
    /// Report, per platform manifest, whether a discoverable attestation exists (for images,
    /// or for a whole registry: `check HOST[:PORT]`).
    #[command(after_help = crate::help::SHORT, after_long_help = crate::help::CHECK)]
    Check(CheckArgs),
    /// Convert every image of a registry: catalog, tags, images; resumable and shardable.
    #[command(after_help = crate::help::SHORT, after_long_help = crate::help::MIGRATE)]
    Migrate(MigrateArgs),
    /// Take back what convert/migrate added: their referrers-tag entries and artifact manifests.
    #[command(after_help = crate::help::SHORT, after_long_help = crate::help::UNDO)]
    Undo(UndoArgs),
    /// Print a shell completion script on stdout.
    #[command(after_help = crate::help::SHORT, after_long_help = crate::help::COMPLETIONS)]
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per command into a directory.
    #[command(after_help = crate::help::SHORT, after_long_help = crate::help::MAN)]
    Man(ManArgs),
    /// Receive registry push notifications and make each pushed image's attestations
    /// discoverable as it arrives (docs/serve.md).
    #[command(after_help = crate::help::SHORT, after_long_help = crate::help::SERVE)]
    Serve(ServeArgs),
    /// Poll a registry that cannot notify: convert the images behind new and moved tags.
    #[command(after_help = crate::help::SHORT, after_long_help = crate::help::WATCH)]
    Watch(WatchArgs),
}

/// Images to work on.
#[derive(Debug, Args, Clone)]
pub struct Targets {
    /// Images: HOST[:PORT]/REPO[:TAG|@DIGEST] or oci-layout://DIR[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub refs: Vec<String>,
    /// Also take every image in a `docker buildx build|bake --metadata-file` JSON file.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Vec<PathBuf>,
}

/// What to do with the image index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IndexMode {
    /// Leave the index, its tag and the legacy manifests untouched.
    Keep,
    /// Also repoint the index's attestation entries to the artifacts and move the tag (as BuildKit v0.32 writes it).
    Rewrite,
}

/// `referrify convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Images to convert.
    #[command(flatten)]
    pub targets: Targets,
    /// What to do with the image index.
    #[arg(long, value_enum, default_value_t = IndexMode::Keep)]
    pub index: IndexMode,
    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip listing referrers after the writes.
    #[arg(long)]
    pub no_verify: bool,
    /// Also fill in `artifactType` and annotations, read from each entry's manifest, for
    /// referrers tag entries that lack them (older cosign / go-containerregistry); `undo`
    /// takes them out again.
    #[arg(long)]
    pub repair_tag_entries: bool,
}

/// Which repositories and tags a registry-wide command takes.
#[derive(Debug, Args, Clone, Default)]
pub struct ScopeArgs {
    /// Only repositories under these prefixes (repeatable). `team/` takes everything below
    /// team/; `team/app` takes team/app and team/app/*. Without catalog access, the
    /// repositories to take.
    #[arg(long = "repo", value_name = "PREFIX")]
    pub repos: Vec<String>,
    /// Only tags matching this regular expression (unanchored; write ^...$ to anchor).
    #[arg(long, value_name = "REGEX")]
    pub tags: Option<String>,
}

impl ScopeArgs {
    /// The selection these options make (`shard`: migrate's `--shard`).
    pub fn selection(
        &self,
        shard: Option<crate::plan::scope::Shard>,
    ) -> Result<crate::plan::scope::Selection, String> {
        let tags = self
            .tags
            .as_deref()
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| format!("--tags: {e}"))?;
        Ok(crate::plan::scope::Selection {
            prefixes: self.repos.clone(),
            tags,
            shard,
        })
    }
}

/// `referrify check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Images to check, or one registry (HOST[:PORT]) to check every image of.
    #[command(flatten)]
    pub targets: Targets,
    /// Registry-wide: which repositories and tags.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Registry-wide: also read every in-toto statement and check its subject (more requests).
    #[arg(long)]
    pub statements: bool,
    /// Also write the report as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Exit 3 unless every platform has each of these (comma-separated: sbom, provenance,
    /// signature), on it or its index; without it: unless every platform has a discoverable
    /// BuildKit attestation.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub require: Vec<crate::plan::supply::Requirement>,
}

/// `referrify migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The registry: HOST[:PORT].
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
    /// Which repositories and tags.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Print the plan per repository and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Record finished work in FILE and skip what it records (resume after a stop or a crash).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Take only shard K of N (1-based; a stable hash of the repository name), for N processes
    /// sharing one migration.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::plan::scope::Shard>,
    /// Skip listing referrers after the writes.
    #[arg(long)]
    pub no_verify: bool,
}

/// `referrify undo`.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// Images (HOST[:PORT]/REPO[:TAG|@DIGEST]), or one registry (HOST[:PORT]) for all its images.
    #[arg(value_name = "REF|REGISTRY", required = true)]
    pub refs: Vec<String>,
    /// Registry-wide: which repositories and tags.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Print what would be taken back; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// For one REF:TAG that `convert --index rewrite` moved: point the tag back to this original
    /// index (the `indexRewrite.old` digest of the convert report). Refused unless the tag
    /// points to exactly referrify's rewrite of that index.
    #[arg(long, value_name = "DIGEST")]
    pub restore_index: Option<String>,
}

/// `referrify completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `referrify man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write referrify.1 and one referrify-COMMAND.1 per command into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `referrify serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// A registry this receiver acts on (repeatable); events naming any other host are refused.
    #[arg(long = "registry", value_name = "HOST[:PORT]", required = true)]
    pub registries: Vec<String>,
    /// File holding the bearer token senders must present.
    #[arg(long, value_name = "FILE", conflicts_with = "token_env")]
    pub token_file: Option<PathBuf>,
    /// Environment variable holding the bearer token.
    #[arg(long, value_name = "NAME", default_value = "REFERRIFY_SERVE_TOKEN")]
    pub token_env: String,
    /// Directory of the on-disk event journal (one per replica).
    #[arg(long, value_name = "DIR", default_value = "referrify-journal")]
    pub journal: PathBuf,
    /// Images queued (waiting or in work) at most; beyond that, senders get 503 with Retry-After.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub queue: usize,
    /// Images worked on at once (their requests share the -j limit per registry; each image
    /// also waits out the read-back window, so more images than requests keep the pipe full).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub workers: usize,
    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_body: usize,
    /// Attempts per image before giving up (failures wait 1 s, 2 s, 4 s, … up to 60 s).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub attempts: u32,
    /// Skip listing referrers after the writes.
    #[arg(long)]
    pub no_verify: bool,
}

/// `referrify watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The registry: HOST[:PORT].
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
    /// Which repositories and tags.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// File recording the tags seen and their digests (created if missing).
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,
    /// Seconds between cycles.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub interval: u64,
    /// Tags read again every cycle because they move (a regular expression; other tags are
    /// read once, when they first appear).
    #[arg(long, default_value = "^latest$", value_name = "REGEX")]
    pub recheck_tags: String,
    /// Run one cycle and exit.
    #[arg(long)]
    pub once: bool,
    /// Skip listing referrers after the writes.
    #[arg(long)]
    pub no_verify: bool,
}
