//! `referrify watch REGISTRY`: a cycle of the registry every `--interval` seconds (src/serve/watch),
//! the state file saved after each.

use super::{usage, Context};
use crate::cli::WatchArgs;
use crate::exit::Exit;
use crate::model::reference::parse_registry;
use crate::serve::watch::{self, WatchConfig};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs `watch`: one JSON line per image worked on, one summary line per cycle, on stdout.
pub async fn run(ctx: &Context, args: &WatchArgs, out: &mut dyn Write) -> Exit {
    let Some(registry) = parse_registry(&args.registry) else {
        return usage(&format!(
            "{:?} is not a registry: write HOST[:PORT]",
            args.registry
        ));
    };
    let recheck = match regex::Regex::new(&args.recheck_tags) {
        Ok(r) => r,
        Err(e) => return usage(&format!("--recheck-tags: {e}")),
    };
    let selection = match args.scope.selection(None) {
        Ok(s) => Arc::new(s),
        Err(e) => return usage(&e),
    };
    let mut seen = match watch::load_state(&args.state) {
        Ok(s) => s,
        Err(e) => return usage(&e),
    };
    let catalog = match ctx.stores.registry(&registry) {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    let cfg = WatchConfig {
        registry,
        selection,
        recheck,
        state: args.state.clone(),
        jobs: ctx.global.jobs,
        verify: !args.no_verify,
    };
    let lines: Mutex<Vec<String>> = Mutex::default();
    let report = |r: &crate::report::ImageReport| {
        if let Ok(l) = serde_json::to_string(r) {
            lines.lock().unwrap_or_else(|e| e.into_inner()).push(l);
        }
    };
    loop {
        let c = watch::cycle(&ctx.stores, &catalog, &cfg, &mut seen, &report).await;
        if let Err(e) = watch::save_state(&cfg.state, &seen) {
            tracing::error!("{e}");
            return Exit::Failure;
        }
        let mut batch = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
        batch.push(serde_json::json!({"kind": "cycle", "cycle": c}).to_string());
        for l in batch {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
        if args.once || crate::stop::requested() {
            return if c.failed > 0 {
                Exit::Failure
            } else {
                Exit::Ok
            };
        }
        let until = tokio::time::Instant::now() + Duration::from_secs(args.interval);
        while tokio::time::Instant::now() < until && !crate::stop::requested() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if crate::stop::requested() {
            return Exit::Ok;
        }
    }
}
