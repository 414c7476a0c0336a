//! `referrify completions SHELL` and `referrify man`: generated from the clap definitions, so
//! they can never name a flag the binary does not have.

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::Exit;
use clap::CommandFactory as _;
use std::io::Write;

/// Prints the completion script for one shell.
pub fn completions(args: &CompletionsArgs, out: &mut dyn Write) -> Exit {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "referrify", &mut buf);
    write_all(out, &buf)
}

/// Prints referrify(1), or writes every page (one per command) into `--dir`.
pub fn man(args: &ManArgs, out: &mut dyn Write) -> Exit {
    // No page for clap's `help` subcommand (generate_to leaves it out too): `--help` is one.
    let cmd = Cli::command().disable_help_subcommand(true);
    match &args.dir {
        None => {
            let mut buf = Vec::new();
            match clap_mangen::Man::new(cmd).render(&mut buf) {
                Ok(()) => write_all(out, &buf),
                Err(e) => failed("cannot render the man page", &e),
            }
        }
        Some(dir) => match clap_mangen::generate_to(cmd, dir) {
            Ok(()) => Exit::Ok,
            Err(e) => failed(&format!("cannot write man pages to {}", dir.display()), &e),
        },
    }
}

/// Writes generated text; a closed stdout (`| head`) is a failure, not a panic.
fn write_all(out: &mut dyn Write, bytes: &[u8]) -> Exit {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Exit::Ok,
        Err(e) => failed("cannot write to stdout", &e),
    }
}

fn failed(what: &str, e: &std::io::Error) -> Exit {
    eprintln!(
        "referrify: {}",
        crate::report::sanitize::sanitize(&format!("{what}: {e}"))
    );
    Exit::Failure
}
