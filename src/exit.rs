//! Exit codes (documented in the README).

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Ok,
    /// Some image failed; the others were still processed.
    Failure,
    /// The command line was wrong.
    Usage,
    /// `check`: some platform manifest has no discoverable attestation.
    Uncovered,
    /// Stopped by Ctrl-C or SIGTERM at a safe point; what was done is reported.
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Uncovered => 3,
            Exit::Interrupted => 130,
        }
    }
}
