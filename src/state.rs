//! `--state FILE`: an append-only record of finished work, so a stopped migration resumes.
//!
//! One JSON object per line. A line is written only after the registry work it records is done
//! and verified, with one `write` of the whole line to a file opened for appending, so a kill at
//! any instant leaves every earlier line intact and at most one torn last line, which reading
//! skips. The file is never rewritten or truncated.

use crate::model::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The version of the line format.
const FORMAT: u32 = 1;

/// One line of the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// The first line: which registry the file belongs to.
    Header {
        /// [`FORMAT`].
        #[serde(rename = "referrifyState")]
        format: u32,
        /// The registry host.
        registry: String,
    },
    /// Every image of a repository is done.
    Repository {
        /// The repository.
        repository: String,
        /// Always true.
        complete: bool,
    },
    /// One image (index digest) is done: converted and verified, or nothing to do.
    Image {
        /// The repository.
        repository: String,
        /// The index digest.
        image: Digest,
        /// Attestations it holds.
        attestations: usize,
    },
}

/// The state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state file {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// Work finished in earlier runs, and the open file that records this run's.
pub struct State {
    path: PathBuf,
    repositories: HashSet<String>,
    images: HashSet<(String, Digest)>,
    file: Option<Mutex<Writer>>,
    /// Lines that could not be read (a torn last line after a kill).
    pub skipped_lines: usize,
}

struct Writer {
    file: std::fs::File,
    last_sync: Instant,
}

impl State {
    /// A state that records nothing (no `--state`).
    pub fn none() -> State {
        State {
            path: PathBuf::new(),
            repositories: HashSet::new(),
            images: HashSet::new(),
            file: None,
            skipped_lines: 0,
        }
    }

    /// Reads `path` (if it exists) and, unless `read_only`, opens it for appending. A file that
    /// belongs to another registry is refused.
    pub fn open(path: &Path, registry: &str, read_only: bool) -> Result<State, StateError> {
        let io = |e: std::io::Error| StateError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut st = State {
            path: path.to_path_buf(),
            ..State::none()
        };
        let existing = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        st.read_records(&existing, registry)?;
        if read_only {
            return Ok(st);
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        // A torn last line from a killed run stays as it is; start ours on a new line.
        if !existing.is_empty() && !existing.ends_with(b"\n") {
            file.write_all(b"\n").map_err(io)?;
        }
        if existing.is_empty() {
            let h = Record::Header {
                format: FORMAT,
                registry: registry.to_string(),
            };
            let mut line = serde_json::to_vec(&h).map_err(|e| io(e.into()))?;
            line.push(b'\n');
            file.write_all(&line).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        st.file = Some(Mutex::new(Writer {
            file,
            last_sync: Instant::now(),
        }));
        Ok(st)
    }

    /// Takes in the records of an existing file: a header first, naming this registry in this
    /// format, then records; a line that does not parse (a write a kill cut short) is skipped.
    fn read_records(&mut self, existing: &[u8], registry: &str) -> Result<(), StateError> {
        let path = self.path.clone();
        let mut header = false;
        for (n, line) in existing.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let bad = |message: String| StateError::Io {
                path: path.clone(),
                message: format!("line {}: {message}", n + 1),
            };
            match serde_json::from_slice::<Record>(line) {
                Ok(Record::Header {
                    format,
                    registry: r,
                }) => {
                    if header || !self.repositories.is_empty() || !self.images.is_empty() {
                        return Err(bad(
                            "a second header: not one run's file; use another file".into()
                        ));
                    }
                    if format != FORMAT {
                        return Err(bad(format!(
                            "state format {format}, this referrify reads format {FORMAT}; use another file"
                        )));
                    }
                    if r != registry {
                        return Err(StateError::Io {
                            path: path.clone(),
                            message: format!(
                                "records a migration of {r}, not of {registry}; use another file"
                            ),
                        });
                    }
                    header = true;
                }
                Ok(_) if !header => {
                    return Err(StateError::Io {
                        path: path.clone(),
                        message: "is not a referrify state file (no header line)".into(),
                    });
                }
                // Only a repository recorded complete counts as done.
                Ok(Record::Repository {
                    repository,
                    complete,
                }) => {
                    if complete {
                        self.repositories.insert(repository);
                    }
                }
                Ok(Record::Image {
                    repository, image, ..
                }) => {
                    self.images.insert((repository, image));
                }
                Err(_) => self.skipped_lines += 1,
            }
        }
        if !existing.is_empty() && !header {
            return Err(StateError::Io {
                path: path.clone(),
                message: "is not a referrify state file (no header line)".into(),
            });
        }
        Ok(())
    }

    /// Whether every image of `repository` was done in an earlier run.
    pub fn repository_done(&self, repository: &str) -> bool {
        self.repositories.contains(repository)
    }

    /// Whether `image` in `repository` was done in an earlier run.
    pub fn image_done(&self, repository: &str, image: &Digest) -> bool {
        self.images
            .contains(&(repository.to_string(), image.clone()))
    }

    /// Repositories and images recorded before this run.
    pub fn counts(&self) -> (usize, usize) {
        (self.repositories.len(), self.images.len())
    }

    /// Appends a record (a no-op without a file). Data reaches the disk at least once a second
    /// and at [`State::finish`]; a killed process loses nothing written, since the kernel holds it.
    pub fn record(&self, r: &Record) -> Result<(), StateError> {
        let Some(w) = &self.file else {
            return Ok(());
        };
        let io = |e: std::io::Error| StateError::Io {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let mut line = serde_json::to_vec(r).map_err(|e| io(e.into()))?;
        line.push(b'\n');
        let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
        w.file.write_all(&line).map_err(io)?;
        if w.last_sync.elapsed() > Duration::from_secs(1) {
            w.file.sync_data().map_err(io)?;
            w.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Flushes to disk.
    pub fn finish(&self) -> Result<(), StateError> {
        if let Some(w) = &self.file {
            let w = w.lock().unwrap_or_else(|e| e.into_inner());
            w.file.sync_data().map_err(|e| StateError::Io {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.jsonl");
        let d = Digest::sha256(b"x");
        {
            let st = State::open(&p, "r.example", false).unwrap();
            st.record(&Record::Image {
                repository: "a".into(),
                image: d.clone(),
                attestations: 2,
            })
            .unwrap();
            st.record(&Record::Repository {
                repository: "a".into(),
                complete: true,
            })
            .unwrap();
        }
        // A kill in the middle of a write.
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"repository":"b","ima"#).unwrap();
        drop(f);
        let st = State::open(&p, "r.example", false).unwrap();
        assert!(st.repository_done("a"));
        assert!(st.image_done("a", &d));
        assert!(!st.image_done("b", &d));
        assert_eq!(st.skipped_lines, 1);
        st.record(&Record::Repository {
            repository: "b".into(),
            complete: true,
        })
        .unwrap();
        drop(st);
        let st = State::open(&p, "r.example", true).unwrap();
        assert!(
            st.repository_done("b"),
            "a record after a torn line is read"
        );
        assert!(State::open(&p, "other.example", true).is_err());
        std::fs::write(dir.path().join("x"), b"hello\n").unwrap();
        assert!(State::open(&dir.path().join("x"), "r.example", true).is_err());
    }

    #[test]
    fn only_a_well_formed_file_of_this_format_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        let header = r#"{"referrifyState":1,"registry":"r.example"}"#;
        let write = |text: String| std::fs::write(&p, text).unwrap();
        write(format!(
            "{header}\n{{\"repository\":\"a\",\"complete\":false}}\n"
        ));
        let st = State::open(&p, "r.example", true).unwrap();
        assert!(!st.repository_done("a"), "complete:false is not done");
        write(r#"{"referrifyState":2,"registry":"r.example"}"#.to_string() + "\n");
        let e = State::open(&p, "r.example", true)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("format 2"), "{e}");
        write(format!(
            "{header}\n{{\"repository\":\"a\",\"complete\":true}}\n{header}\n"
        ));
        let e = State::open(&p, "r.example", true)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("second header"), "{e}");
        write(format!(
            "{{\"repository\":\"a\",\"complete\":true}}\n{header}\n"
        ));
        assert!(
            State::open(&p, "r.example", true).is_err(),
            "records before the header"
        );
    }
}
