//! The members of a working set as a full sync found them when it began, kept in memory while the
//! phone pages through them, so that each page reads its records instead of working out the
//! whole membership again. Another instance, or one that restarted, works it out afresh: the lists
//! only spare work, the pages are the same either way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The member ids of each collection, sorted, in the order of `collections::COLLECTIONS`.
pub type Lists = Arc<Vec<Vec<String>>>;

/// Which full sync the lists belong to: the person, the feed position it began at, and the
/// scope it was made under.
pub type Key = (String, i64, String);

/// Full syncs under way, at most `CAPACITY`, each kept `LIFETIME` after it began.
#[derive(Default)]
pub struct MembersCache {
    entries: Mutex<HashMap<Key, (Instant, Lists)>>,
}

const CAPACITY: usize = 128;
const LIFETIME: Duration = Duration::from_secs(15 * 60);

impl MembersCache {
    /// The lists of the full sync `key`, worked out with `compute` unless kept.
    pub fn get_or_compute<E>(
        &self,
        key: Key,
        compute: impl FnOnce() -> Result<Vec<Vec<String>>, E>,
    ) -> Result<Lists, E> {
        let now = Instant::now();
        if let Some((_, lists)) = self.lock().get(&key).filter(|(made, _)| now.duration_since(*made) < LIFETIME) {
            return Ok(lists.clone());
        }
        let lists = Arc::new(compute()?);
        let mut entries = self.lock();
        entries.retain(|_, (made, _)| now.duration_since(*made) < LIFETIME);
        if entries.len() >= CAPACITY
            && let Some(oldest) = entries.iter().min_by_key(|(_, (made, _))| *made).map(|(key, _)| key.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(key, (now, lists.clone()));
        Ok(lists)
    }

    /// Forgets a full sync that ended.
    pub fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Instant, Lists)>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_worked_out_once_per_full_sync_and_forgotten_when_it_ends() {
        let cache = MembersCache::default();
        let key = ("u".to_owned(), 7, "scope".to_owned());
        let mut computed = 0;
        for _ in 0..3 {
            let lists = cache
                .get_or_compute(key.clone(), || {
                    computed += 1;
                    Ok::<_, ()>(vec![vec!["a".to_owned()]])
                })
                .unwrap();
            assert_eq!(lists[0], ["a"]);
        }
        assert_eq!(computed, 1);
        cache.forget(&key);
        cache.get_or_compute(key, || Ok::<_, ()>(vec![])).unwrap();
        for n in 0..CAPACITY + 5 {
            cache.get_or_compute(("v".to_owned(), n as i64, String::new()), || Ok::<_, ()>(vec![])).unwrap();
        }
        assert!(cache.lock().len() <= CAPACITY);
    }
}
