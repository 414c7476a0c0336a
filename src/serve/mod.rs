//! `referrify serve`: a receiver for registry push notifications that keeps every pushed image's
//! attestations discoverable. Events are parsed (`events`), filtered without a request (own
//! writes, other hosts), journaled to disk before the 2xx (`journal`), queued with duplicates
//! coalesced (`queue`), and worked on by the one engine (`worker`). `watch` polls registries
//! that cannot notify, with the same engine.

pub mod events;
pub mod http;
pub mod journal;
pub mod metrics;
pub mod queue;
pub mod recent;
pub mod watch;
pub mod worker;

use crate::model::digest::Digest;
use events::{Children, Event, Target};
use journal::{Entry, Journal};
use queue::{Key, Queue};
use std::sync::Mutex;
use std::time::Duration;

/// How the receiver runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The registries it acts on (`host[:port]`, lower case); an event naming another is refused.
    pub registries: Vec<String>,
    /// The bearer token every request must carry.
    pub token: String,
    /// Images waiting at most; beyond, 503 + `Retry-After`.
    pub queue: usize,
    /// Images worked on at once.
    pub workers: usize,
    /// Attempts per image before it is given up (each failure waits longer).
    pub attempts: u32,
    /// The first retry's delay (doubled each time, at most 60 s).
    pub backoff: Duration,
    /// List referrers again after the writes.
    pub verify: bool,
}

/// Why a request's events were not all taken.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Events journaled and queued.
    pub queued: usize,
    /// Events ignored without any request.
    pub ignored: usize,
    /// Events naming a registry this receiver does not serve.
    pub refused: usize,
}

/// What the receiver and the workers share.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// The queue.
    pub queue: Queue,
    /// The journal (one writer at a time; held while an event is both journaled and queued).
    pub journal: Mutex<Journal>,
    /// The metrics.
    pub metrics: metrics::Metrics,
    /// Digests referrify wrote lately: their push events are its own.
    pub recent: recent::Recent<Digest>,
    /// Images by digest finished lately: another event for one needs nothing.
    pub settled: recent::Recent<Key>,
}

/// The request could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The queue is full: the sender should retry later.
    #[error("the queue is full")]
    Full,
    /// The journal could not be written: nothing was acknowledged.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
}

impl Shared {
    /// A receiver with the journal opened and its unfinished events queued again.
    pub fn new(config: Config, journal: Journal, replay: Vec<Entry>) -> Shared {
        let s = Shared {
            queue: Queue::new(config.queue),
            config,
            journal: Mutex::new(journal),
            metrics: metrics::Metrics::new(),
            recent: recent::Recent::new(8192),
            settled: recent::Recent::new(65536),
        };
        if !replay.is_empty() {
            tracing::info!("replaying {} unfinished events", replay.len());
        }
        for e in replay {
            match s.key(&e.event) {
                Some(k) => s.queue.push(k, e),
                None => tracing::warn!(
                    "journal: dropping an event for {:?}, no longer a configured registry",
                    e.event.host
                ),
            }
        }
        s.metrics.queue_depth.set(s.queue.depth() as i64);
        s
    }

    /// The registry an event is for: the host it names when that is configured, or the only
    /// configured registry when it names none. `None`: refused.
    fn host(&self, e: &Event) -> Option<String> {
        match &e.host {
            Some(h) => self.config.registries.iter().find(|r| *r == h).cloned(),
            None => match self.config.registries.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            },
        }
    }

    fn key(&self, e: &Event) -> Option<Key> {
        let host = self.host(e)?;
        Some((host, e.repository.clone(), e.target.clone()))
    }

    /// Whether an event is referrify's own write or cannot need work, told from the event alone.
    fn ignorable(&self, e: &Event) -> bool {
        let own_tag = e.tag.as_deref().is_some_and(is_referrers_tag)
            || matches!(&e.target, Target::Tag(t) if is_referrers_tag(t));
        let own_digest = matches!(&e.target, Target::Digest(d) if self.recent.contains(d));
        own_tag || own_digest || e.children == Children::None
    }

    /// Takes a request's events: refuses those naming other registries, ignores own writes,
    /// then (when the queue has room) journals the rest, synced, and queues them.
    pub fn accept(&self, events: Vec<Event>, now_ms: u64) -> Result<Accepted, AcceptError> {
        let mut out = Accepted::default();
        let mut take: Vec<(Key, Event)> = Vec::new();
        for e in events {
            self.metrics.received.inc();
            match self.key(&e) {
                None => out.refused += 1,
                Some(k) if self.ignorable(&e) || self.settled.contains(&k) => out.ignored += 1,
                Some(k) => take.push((k, e)),
            }
        }
        self.metrics.refused.inc_by(out.refused as u64);
        self.metrics.ignored.inc_by(out.ignored as u64);
        if take.is_empty() {
            return Ok(out);
        }
        let keys: Vec<Key> = take.iter().map(|(k, _)| k.clone()).collect();
        if !self.queue.has_room(&keys) {
            return Err(AcceptError::Full);
        }
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        let entries = journal.append(now_ms, take.iter().map(|(_, e)| e.clone()).collect())?;
        out.queued = entries.len();
        for (k, entry) in keys.into_iter().zip(entries) {
            self.queue.push(k, entry);
        }
        drop(journal);
        self.metrics.queue_depth.set(self.queue.depth() as i64);
        Ok(out)
    }

    /// Records finished journal entries, and compacts the journal when it is due.
    pub fn finished(&self, entries: &[Entry]) {
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = journal.done(&seqs) {
            tracing::error!("{e}");
        }
        if journal.wants_compaction() {
            if let Err(e) = journal.compact(&self.queue.pending()) {
                tracing::error!("{e}");
            }
        }
    }
}

/// `sha256-<64 hex>`: a referrers tag (the tag schema), written by referrify or another tool.
pub fn is_referrers_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(dir: &std::path::Path) -> Shared {
        let (j, replay) = Journal::open(dir).unwrap();
        let config = Config {
            registries: vec!["reg.example:5000".into()],
            token: "t".repeat(16),
            queue: 10,
            workers: 1,
            attempts: 1,
            backoff: Duration::from_secs(1),
            verify: true,
        };
        Shared::new(config, j, replay)
    }

    fn ev(host: Option<&str>, target: Target, tag: Option<&str>, children: Children) -> Event {
        Event {
            host: host.map(str::to_string),
            repository: "app".into(),
            target,
            tag: tag.map(str::to_string),
            media_type: None,
            children,
        }
    }

    #[test]
    fn own_writes_and_other_hosts_cost_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let d = Digest::sha256(b"x");
        let own_tag = crate::model::referrers::fallback_tag(&d);
        s.recent.insert(Digest::sha256(b"ours"));
        let events = vec![
            ev(
                Some("evil.example"),
                Target::Digest(d.clone()),
                None,
                Children::Unknown,
            ),
            ev(
                None,
                Target::Digest(d.clone()),
                Some(&own_tag),
                Children::Unknown,
            ),
            ev(
                None,
                Target::Digest(Digest::sha256(b"ours")),
                None,
                Children::Unknown,
            ),
            ev(None, Target::Digest(d.clone()), None, Children::None),
            ev(
                Some("reg.example:5000"),
                Target::Digest(d.clone()),
                None,
                Children::Unknown,
            ),
            ev(
                None,
                Target::Digest(d.clone()),
                Some("1"),
                Children::Attestations,
            ),
        ];
        let a = s.accept(events, 0).unwrap();
        assert_eq!((a.queued, a.ignored, a.refused), (2, 3, 1));
        assert_eq!(s.queue.depth(), 1, "the two events for one image coalesce");
        assert_eq!(
            s.queue.pending().len(),
            2,
            "both journal entries are answered by it"
        );
    }
}
