//! The on-disk journal of accepted events: one JSON line per event, synced to disk before the
//! receiver answers 2xx, and a `done` line when its work finished. On start, every event
//! without a `done` line is replayed (after kill -9 too); the journal is then rewritten with
//! only those (compaction), and again whenever many `done` lines have piled up.

use super::events::Event;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};

/// `done` lines after which the journal is rewritten with only the pending events.
const COMPACT_AFTER: usize = 4096;

/// A journal could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("journal {path}: {source}")]
pub struct JournalError {
    /// The file.
    pub path: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// An event accepted: its sequence number, when it was received (Unix milliseconds), the event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Sequence number (unique in this journal).
    pub seq: u64,
    /// Received at, Unix milliseconds (push→discoverable latency survives a restart).
    pub at: u64,
    /// The event.
    pub event: Event,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Done { done: u64 },
    Event(Entry),
}

/// The journal of one receiver (a directory it holds a lock on: one process per journal).
pub struct Journal {
    path: PathBuf,
    file: File,
    next: u64,
    done_lines: usize,
    _lock: File,
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, locked against a second process, and returns the
    /// events that were accepted and never finished, in order.
    pub fn open(dir: &Path) -> Result<(Journal, Vec<Entry>), JournalError> {
        let err = |path: &Path| {
            let path = path.display().to_string();
            move |source| JournalError { path, source }
        };
        std::fs::create_dir_all(dir).map_err(err(dir))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(err(&lock_path))?;
        lock.try_lock().map_err(|e| JournalError {
            path: lock_path.display().to_string(),
            source: std::io::Error::other(format!(
                "another referrify serve holds this journal ({e}); give each replica its own --journal"
            )),
        })?;
        let path = dir.join("events.jsonl");
        let pending = read_pending(&path).map_err(err(&path))?;
        let next = pending.iter().map(|e| e.seq + 1).max().unwrap_or(1);
        let file = rewrite(&path, &pending).map_err(err(&path))?;
        let j = Journal {
            path,
            file,
            next,
            done_lines: 0,
            _lock: lock,
        };
        Ok((j, pending))
    }

    /// Appends accepted events and syncs them to disk; returns them numbered.
    pub fn append(&mut self, at: u64, events: Vec<Event>) -> Result<Vec<Entry>, JournalError> {
        let mut buf = Vec::new();
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let e = Entry {
                seq: self.next,
                at,
                event,
            };
            self.next += 1;
            line(&mut buf, &Line::Event(e.clone()));
            out.push(e);
        }
        self.file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| self.error(source))?;
        Ok(out)
    }

    /// Records finished events. Not synced: a `done` line lost in a crash only makes the event
    /// run again, and running an event again finds its work done.
    pub fn done(&mut self, seqs: &[u64]) -> Result<(), JournalError> {
        let mut buf = Vec::new();
        for &done in seqs {
            line(&mut buf, &Line::Done { done });
        }
        self.done_lines += seqs.len();
        self.file
            .write_all(&buf)
            .map_err(|source| self.error(source))
    }

    /// Whether enough `done` lines piled up to rewrite the journal.
    pub fn wants_compaction(&self) -> bool {
        self.done_lines >= COMPACT_AFTER
    }

    /// Rewrites the journal with only `pending` (every event accepted and not finished).
    pub fn compact(&mut self, pending: &[Entry]) -> Result<(), JournalError> {
        self.file = rewrite(&self.path, pending).map_err(|source| self.error(source))?;
        self.done_lines = 0;
        Ok(())
    }

    fn error(&self, source: std::io::Error) -> JournalError {
        JournalError {
            path: self.path.display().to_string(),
            source,
        }
    }
}

fn line(buf: &mut Vec<u8>, l: &Line) {
    // Our own types: serialising them cannot fail.
    if serde_json::to_writer(&mut *buf, l).is_ok() {
        buf.push(b'\n');
    }
}

/// The events without a `done` line. A torn last line (a crash mid-write, before the 2xx) is
/// skipped: that event was never acknowledged.
fn read_pending(path: &Path) -> std::io::Result<Vec<Entry>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut events: std::collections::BTreeMap<u64, Entry> = Default::default();
    for l in BufReader::new(file).split(b'\n') {
        let l = l?;
        match serde_json::from_slice::<Line>(&l) {
            Ok(Line::Event(e)) => {
                events.insert(e.seq, e);
            }
            Ok(Line::Done { done }) => {
                events.remove(&done);
            }
            Err(_) if l.iter().all(u8::is_ascii_whitespace) => {}
            Err(e) => tracing::warn!("journal {}: skipping a torn line: {e}", path.display()),
        }
    }
    Ok(events.into_values().collect())
}

/// Writes `pending` to a new file, syncs it, and puts it in place of `path` atomically.
fn rewrite(path: &Path, pending: &[Entry]) -> std::io::Result<File> {
    let tmp = path.with_extension("jsonl.tmp");
    let mut buf = Vec::new();
    for e in pending {
        line(&mut buf, &Line::Event(e.clone()));
    }
    let mut f = File::create(&tmp)?;
    f.write_all(&buf)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    OpenOptions::new().append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::events::{Children, Target};

    fn ev(tag: &str) -> Event {
        Event {
            host: None,
            repository: "app".into(),
            target: Target::Tag(tag.into()),
            tag: None,
            media_type: None,
            children: Children::Unknown,
        }
    }

    #[test]
    fn replays_what_was_not_done() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, p) = Journal::open(dir.path()).unwrap();
            assert!(p.is_empty());
            let es = j.append(1, vec![ev("a"), ev("b"), ev("c")]).unwrap();
            j.done(&[es[1].seq]).unwrap();
            // A second process is refused while this one holds the journal.
            assert!(Journal::open(dir.path()).is_err());
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("events.jsonl"))
            .unwrap();
        f.write_all(b"{\"seq\":9,\"at\":").unwrap();
        let (mut j, p) = Journal::open(dir.path()).unwrap();
        let tags: Vec<_> = p.iter().map(|e| e.event.target.clone()).collect();
        assert_eq!(tags, vec![Target::Tag("a".into()), Target::Tag("c".into())]);
        let next = j.append(2, vec![ev("d")]).unwrap();
        assert_eq!(next[0].seq, 4);
    }

    #[test]
    fn compaction_keeps_only_the_pending() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path()).unwrap();
        let es = j.append(1, vec![ev("a"), ev("b"), ev("c")]).unwrap();
        j.done(&[es[0].seq]).unwrap();
        j.compact(&es[1..]).unwrap();
        j.done(&[es[1].seq]).unwrap();
        drop(j);
        let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let (_, p) = Journal::open(dir.path()).unwrap();
        assert_eq!(p, vec![es[2].clone()]);
    }
}
