//! `referrify serve`: reads the token and options, opens the journal, binds, and runs the
//! receiver (src/serve) until SIGTERM/SIGINT.

use super::{usage, Context};
use crate::cli::ServeArgs;
use crate::exit::Exit;
use crate::model::reference::parse_registry;
use crate::serve::journal::Journal;
use crate::serve::{http, Config, Shared};
use std::sync::Arc;
use std::time::Duration;

/// The bearer token: from `--token-file`, else the environment variable `--token-env` names.
fn token(args: &ServeArgs) -> Result<String, String> {
    let t = match &args.token_file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read --token-file {}: {e}", p.display()))?,
        None => std::env::var(&args.token_env).map_err(|_| {
            format!(
                "no token: set {} or give --token-file (senders must present it as a bearer token)",
                args.token_env
            )
        })?,
    };
    let t = t.trim().to_string();
    if t.len() < 16 {
        return Err("the token must be at least 16 characters".into());
    }
    Ok(t)
}

fn config(args: &ServeArgs) -> Result<Config, String> {
    let mut registries = Vec::new();
    for r in &args.registries {
        let host =
            parse_registry(r).ok_or_else(|| format!("--registry {r:?}: write HOST[:PORT]"))?;
        registries.push(host.to_ascii_lowercase());
    }
    Ok(Config {
        registries,
        token: token(args)?,
        queue: args.queue,
        workers: args.workers,
        attempts: args.attempts.max(1),
        backoff: Duration::from_secs(1),
        verify: !args.no_verify,
    })
}

/// Runs `serve`.
pub async fn run(ctx: &Context, args: &ServeArgs) -> Exit {
    let config = match config(args) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let (journal, replay) = match Journal::open(&args.journal) {
        Ok(j) => j,
        Err(e) => return usage(&e.to_string()),
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => return usage(&format!("cannot listen on {}: {e}", args.listen)),
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // The bound address, for scripts that asked for port 0.
    eprintln!("referrify: serving on http://{addr}");
    let shared = Arc::new(Shared::new(config, journal, replay));
    match http::run(shared.clone(), &ctx.stores, listener, args.max_body).await {
        Ok(()) => {
            eprintln!(
                "referrify: stopped; {} images left in the journal for the next start",
                shared.queue.busy()
            );
            Exit::Ok
        }
        Err(e) => {
            eprintln!("referrify: serving failed: {e}");
            Exit::Failure
        }
    }
}
