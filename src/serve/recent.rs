//! What the receiver saw lately: the digests it wrote (artifacts: the registry notifies their
//! pushes too), and the images by digest it finished (a digest's content cannot change, so
//! another event for one is dropped without a request). Bounded: the oldest are forgotten (an
//! event for a forgotten one costs the reads that find the work done).

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

/// A bounded set, oldest forgotten first.
pub struct Recent<T> {
    cap: usize,
    inner: Mutex<(HashSet<T>, VecDeque<T>)>,
}

impl<T: Hash + Eq + Clone> Recent<T> {
    /// Remembers at most `cap` items.
    pub fn new(cap: usize) -> Recent<T> {
        Recent {
            cap: cap.max(1),
            inner: Mutex::default(),
        }
    }

    /// Remembers `d`.
    pub fn insert(&self, d: T) {
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

    /// Whether `d` was seen lately.
    pub fn contains(&self, d: &T) -> bool {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0.contains(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::digest::Digest;

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
