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
        .with_writer(|| SafeStderr)
        .with_ansi(false)
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

/// stderr for log lines, with every control, bidi and zero-width character a registry or a file
/// put into a message shown as an escape (only each line's own end stays a newline).
struct SafeStderr;

impl std::io::Write for SafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (&*text, ""),
        };
        let line = referrify::report::sanitize::sanitize(body) + end;
        std::io::stderr().write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
