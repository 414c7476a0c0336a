//! The `referrify` binary: parse, run, exit with a documented code.

use clap::Parser as _;
use referrify::cli::Cli;
use referrify::exit::Exit;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage.code()
            } else {
                0
            });
        }
    };
    let level = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "error",
        (false, 0 | 1) => "warn",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("REFERRIFY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("referrify={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("referrify: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Failure.code());
        }
    };
    runtime.spawn(referrify::stop::watch_signals());
    let mut stdout = std::io::stdout();
    let mut exit = runtime.block_on(referrify::commands::run(cli, &mut stdout));
    if referrify::stop::requested() {
        exit = Exit::Interrupted;
    }
    ExitCode::from(exit.code())
}
