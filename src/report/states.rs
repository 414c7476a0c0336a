//! The states reports carry, as enums: one word each in JSON and text, compared as values
//! everywhere else (never as strings).

/// Declares a state enum whose JSON and text form is the given word.
macro_rules! states {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            /// The word used in JSON and text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, so table widths (`{:<10}`) apply.
                f.pad(self.as_str())
            }
        }
    };
}

states! {
    /// What happened to one attestation in `convert` and `migrate`.
    AttestationState {
        /// Made discoverable by this run.
        Done = "done",
        /// Discoverable before the run; nothing written for it.
        AlreadyDone = "already-done",
        /// A dry run would make it discoverable.
        Planned = "planned",
        /// It cannot be made discoverable (the referrers cannot be listed or maintained).
        Blocked = "blocked",
        /// A write or the verification failed.
        Failed = "failed",
    }
}

impl AttestationState {
    /// Counted as converted in totals (made discoverable, or would be).
    pub fn is_converted(self) -> bool {
        matches!(self, AttestationState::Done | AttestationState::Planned)
    }

    /// Counted as failed in totals.
    pub fn is_failure(self) -> bool {
        matches!(self, AttestationState::Blocked | AttestationState::Failed)
    }
}

states! {
    /// The outcome of one image in `convert` and `migrate`.
    ImageStatus {
        /// Every attestation is discoverable now, some by this run.
        Done = "done",
        /// Nothing needed doing.
        Unchanged = "unchanged",
        /// A dry run found work to do.
        Planned = "planned",
        /// Something failed.
        Failed = "failed",
        /// The reference names a single manifest: no index, so no in-index attestation.
        NotAnIndex = "not-an-index",
    }
}

impl ImageStatus {
    /// Whether the image needs no further run (recorded as done in a state file).
    pub fn is_settled(self) -> bool {
        self != ImageStatus::Failed
    }

    /// Whether this run changed (or would change) something.
    pub fn did_work(self) -> bool {
        matches!(self, ImageStatus::Done | ImageStatus::Planned)
    }
}

states! {
    /// The outcome of one repository in `migrate`.
    RepositoryStatus {
        /// Converted, some of it by this run.
        Done = "done",
        /// A dry run found work to do.
        Planned = "planned",
        /// Nothing needed doing.
        Unchanged = "unchanged",
        /// Recorded as done by an earlier run in the state file.
        Resumed = "resumed",
        /// Something failed.
        Failed = "failed",
    }
}

states! {
    /// The outcome of one image in `undo`.
    #[derive(Default)]
    UndoStatus {
        /// referrify's writes were taken back.
        Undone = "undone",
        /// There was nothing of referrify's to take back.
        #[default]
        Unchanged = "unchanged",
        /// A dry run found writes to take back.
        Planned = "planned",
        /// Something failed.
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_text_use_the_same_word() {
        for s in [
            AttestationState::Done,
            AttestationState::AlreadyDone,
            AttestationState::Planned,
            AttestationState::Blocked,
            AttestationState::Failed,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(
            serde_json::to_string(&ImageStatus::NotAnIndex).unwrap(),
            "\"not-an-index\""
        );
        assert_eq!(format!("{:<8}|", RepositoryStatus::Done), "done    |");
    }
}
