//! The digests referrify wrote lately (artifacts, referrers indexes): the registry notifies their
//! pushes too, and those events are dropped without a request. Bounded: the oldest are forgotten
//! (an event for a forgotten one costs a read that finds the work done).

use crate::model::digest::Digest;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// A bounded set of digests, oldest forgotten first.
pub struct Recent {
    cap: usize,
    inner: Mutex<(HashSet<Digest>, VecDeque<Digest>)>,
}

impl Recent {
    /// Remembers at most `cap` digests.
    pub fn new(cap: usize) -> Recent {
        Recent {
            cap: cap.max(1),
            inner: Mutex::default(),
        }
    }

    /// Remembers `d`.
    pub fn insert(&self, d: Digest) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order) = &mut *g;
        if set.insert(d.clone()) {
            order.push_back(d);
            while order.len() > self.cap {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
    }

    /// Whether `d` was written lately.
    pub fn contains(&self, d: &Digest) -> bool {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0.contains(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest() {
        let r = Recent::new(2);
        let d = |b: &[u8]| Digest::sha256(b);
        r.insert(d(b"a"));
        r.insert(d(b"b"));
        r.insert(d(b"c"));
        assert!(!r.contains(&d(b"a")));
        assert!(r.contains(&d(b"b")) && r.contains(&d(b"c")));
    }
}
