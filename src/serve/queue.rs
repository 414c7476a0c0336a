//! The work queue: one entry per image (registry, repository, digest or tag), however many
//! events name it (duplicates coalesce), bounded so that a full queue answers 503 instead of
//! growing without limit. Entries that failed wait out a backoff before they are taken again.

use super::events::{Event, Target};
use super::journal::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What identifies one piece of work: the registry host, the repository, the manifest.
pub type Key = (String, String, Target);

/// One image to work on, and every journal entry it answers.
#[derive(Debug, Clone)]
pub struct Work {
    /// The registry host (one the receiver is configured for).
    pub host: String,
    /// The event (the first that named this image).
    pub event: Event,
    /// Journal entries this work finishes.
    pub entries: Vec<Entry>,
    /// Failed attempts so far.
    pub attempts: u32,
}

struct Slot {
    work: Work,
    not_before: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    order: VecDeque<Key>,
    waiting: HashMap<Key, Slot>,
    running: HashMap<Key, Vec<Entry>>,
}

/// The queue, shared by the receiver and the workers.
pub struct Queue {
    cap: usize,
    inner: Mutex<Inner>,
    notify: Notify,
}

impl Queue {
    /// An empty queue of at most `cap` images (waiting or being worked on).
    pub fn new(cap: usize) -> Queue {
        Queue {
            cap: cap.max(1),
            inner: Mutex::default(),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `keys` fit: keys already waiting (or running, for a digest) coalesce and take no
    /// room. Checked before the events are journaled, so a refused request leaves no trace.
    pub fn has_room(&self, keys: &[Key]) -> bool {
        let q = self.lock();
        let new = keys
            .iter()
            .filter(|k| !q.waiting.contains_key(*k) && !coalesces_running(&q, k))
            .count();
        new == 0 || q.waiting.len() + q.running.len() + new <= self.cap
    }

    /// Adds a journaled event (`force`: replayed on start, taken whatever the bound).
    pub fn push(&self, key: Key, entry: Entry) {
        let mut q = self.lock();
        if let Some(s) = q.waiting.get_mut(&key) {
            s.work.entries.push(entry);
            return;
        }
        if coalesces_running(&q, &key) {
            if let Some(r) = q.running.get_mut(&key) {
                r.push(entry);
            }
            return;
        }
        let work = Work {
            host: key.0.clone(),
            event: entry.event.clone(),
            entries: vec![entry],
            attempts: 0,
        };
        q.order.push_back(key.clone());
        q.waiting.insert(
            key,
            Slot {
                work,
                not_before: None,
            },
        );
        drop(q);
        self.notify.notify_one();
    }

    /// Takes the next image whose backoff has passed, waiting for one; `None` once `stop()`
    /// says to take no more.
    pub async fn take(&self, stop: impl Fn() -> bool) -> Option<(Key, Work)> {
        loop {
            if stop() {
                return None;
            }
            let wait = {
                let mut q = self.lock();
                let now = Instant::now();
                let ready = q.order.iter().position(|k| {
                    q.waiting
                        .get(k)
                        .is_some_and(|s| s.not_before.is_none_or(|t| t <= now))
                });
                if let Some(i) = ready {
                    let key = q.order.remove(i).unwrap_or_else(|| unreachable!());
                    if let Some(slot) = q.waiting.remove(&key) {
                        q.running.insert(key.clone(), slot.work.entries.clone());
                        return Some((key, slot.work));
                    }
                }
                q.waiting
                    .values()
                    .filter_map(|s| s.not_before)
                    .min()
                    .map(|t| t.saturating_duration_since(now))
                    .unwrap_or(Duration::from_millis(200))
                    .min(Duration::from_millis(200))
            };
            let _ = tokio::time::timeout(wait, self.notify.notified()).await;
        }
    }

    /// The work of `key` ended: returns every journal entry it answered (including events that
    /// coalesced into it while it ran).
    pub fn finish(&self, key: &Key, work: Work) -> Vec<Entry> {
        self.lock().running.remove(key).unwrap_or(work.entries)
    }

    /// The work of `key` failed: it waits `delay` and is taken again.
    pub fn retry(&self, key: Key, mut work: Work, delay: Duration) {
        let mut q = self.lock();
        if let Some(entries) = q.running.remove(&key) {
            work.entries = entries;
        }
        work.attempts += 1;
        if let Some(s) = q.waiting.get_mut(&key) {
            s.work.entries.extend(work.entries);
            return;
        }
        q.order.push_back(key.clone());
        q.waiting.insert(
            key,
            Slot {
                work,
                not_before: Some(Instant::now() + delay),
            },
        );
    }

    /// Images waiting (not running).
    pub fn depth(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Images waiting or running.
    pub fn busy(&self) -> usize {
        let q = self.lock();
        q.waiting.len() + q.running.len()
    }

    /// Every journal entry not finished (waiting or running): what a compacted journal keeps.
    pub fn pending(&self) -> Vec<Entry> {
        let q = self.lock();
        let mut out: Vec<Entry> = q
            .waiting
            .values()
            .flat_map(|s| s.work.entries.iter().cloned())
            .chain(q.running.values().flatten().cloned())
            .collect();
        out.sort_by_key(|e| e.seq);
        out
    }

    /// Wakes every waiting worker (on shutdown).
    pub fn wake_all(&self) {
        self.notify.notify_waiters();
    }
}

/// A push of a digest that is being worked on already is answered by that work (the content
/// behind a digest cannot change); a tag may have moved since, so it waits its turn.
fn coalesces_running(q: &Inner, key: &Key) -> bool {
    matches!(key.2, Target::Digest(_)) && q.running.contains_key(key)
}
