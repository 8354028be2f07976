//! What the server has sent each phone: the member ids of every collection as of a sync
//! position. A full sync pages through the members it found when it began; a delta starts from
//! what the phone holds and changes only what the answer changes, so that the checksums of the
//! last page are those of what the phone should hold without working out the whole working set
//! again. Another instance, or one that restarted or let an entry go, works it out afresh: the
//! copies only spare work, the answers are the same either way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use terren_contract::sync::{SyncChecksums, collection_checksum};
use uuid::Uuid;

/// The member ids of each collection, sorted, in the order of `collections::COLLECTIONS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replica {
    pub lists: Vec<Vec<Uuid>>,
}

impl Replica {
    /// Made from the members of each collection, each list sorted; ids that are not UUIDs are
    /// not records a phone can hold.
    pub fn from_ids(lists: Vec<Vec<String>>) -> Replica {
        Replica {
            lists: lists
                .into_iter()
                .map(|ids| {
                    let mut ids: Vec<Uuid> = ids.iter().filter_map(|id| id.parse().ok()).collect();
                    ids.sort_unstable();
                    ids
                })
                .collect(),
        }
    }

    /// Notes that the phone now holds `id` of the `n`th collection.
    pub fn hold(&mut self, n: usize, id: Uuid) {
        let list = &mut self.lists[n];
        if let Err(at) = list.binary_search(&id) {
            list.insert(at, id);
        }
    }

    /// Notes that the phone dropped `id` of the `n`th collection.
    pub fn drop_id(&mut self, n: usize, id: &Uuid) {
        let list = &mut self.lists[n];
        if let Ok(at) = list.binary_search(id) {
            list.remove(at);
        }
    }

    fn len(&self) -> usize {
        self.lists.iter().map(Vec::len).sum()
    }

    pub fn checksums(&self) -> SyncChecksums {
        let sum = |n: usize| self.lists.get(n).map_or(collection_checksum([]), collection_checksum);
        SyncChecksums {
            referrals: sum(0),
            alerts: sum(1),
            hotspots: sum(2),
            identifications: sum(3),
            profiles: sum(4),
            rounds: sum(5),
        }
    }
}

/// Whose copy and of when: the person, the scope the sync was made under, and the position in
/// the feed and in time the copy is current at (a full sync and the phone after it share it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub user: String,
    pub scope: String,
    pub seq: i64,
    pub synced_at: i64,
}

struct Entry {
    /// When it was last used, on the cache's own count.
    used: u64,
    replica: Arc<Replica>,
}

/// The copies kept: at most `POSITIONS_PER_PHONE` positions per person and scope (the newest, so
/// that an answer lost on the way and asked again, or a second phone, still finds its own), and
/// at most `max_ids` ids in all, the least recently used going first.
pub struct ReplicaCache {
    entries: Mutex<Entries>,
    max_ids: usize,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<Key, Entry>,
    uses: u64,
}

impl Entries {
    fn tick(&mut self) -> u64 {
        self.uses += 1;
        self.uses
    }
}

const POSITIONS_PER_PHONE: usize = 4;

impl Default for ReplicaCache {
    fn default() -> Self {
        ReplicaCache::new(4_000_000)
    }
}

impl ReplicaCache {
    pub fn new(max_ids: usize) -> ReplicaCache {
        ReplicaCache { entries: Mutex::default(), max_ids }
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Replica>> {
        let mut entries = self.lock();
        let used = entries.tick();
        let entry = entries.by_key.get_mut(key)?;
        entry.used = used;
        Some(entry.replica.clone())
    }

    /// The copy at `key`, worked out with `compute` unless kept.
    pub fn get_or_compute<E>(&self, key: Key, compute: impl FnOnce() -> Result<Replica, E>) -> Result<Arc<Replica>, E> {
        if let Some(replica) = self.get(&key) {
            return Ok(replica);
        }
        Ok(self.insert(key, compute()?))
    }

    /// Changes the copy at `key` (kept again if it was let go meanwhile) and returns it.
    pub fn update(&self, key: Key, copy: Arc<Replica>, change: impl FnOnce(&mut Replica)) -> Arc<Replica> {
        let mut copy = self.get(&key).unwrap_or(copy);
        change(Arc::make_mut(&mut copy));
        self.insert_shared(key, copy)
    }

    pub fn insert(&self, key: Key, replica: Replica) -> Arc<Replica> {
        self.insert_shared(key, Arc::new(replica))
    }

    fn insert_shared(&self, key: Key, replica: Arc<Replica>) -> Arc<Replica> {
        let mut guard = self.lock();
        let used = guard.tick();
        let entries = &mut guard.by_key;
        let mut same_phone: Vec<&Key> = entries
            .keys()
            .filter(|other| other.user == key.user && other.scope == key.scope && **other != key)
            .collect();
        same_phone.sort_by_key(|other| (other.seq, other.synced_at));
        let same_phone: Vec<Key> = same_phone.into_iter().cloned().collect();
        let surplus = (same_phone.len() + 1).saturating_sub(POSITIONS_PER_PHONE);
        for old in same_phone.into_iter().take(surplus) {
            entries.remove(&old);
        }
        entries.insert(key, Entry { used, replica: replica.clone() });
        let mut held: usize = entries.values().map(|entry| entry.replica.len()).sum();
        while held > self.max_ids && entries.len() > 1 {
            let Some(oldest) = entries.iter().min_by_key(|(_, entry)| entry.used).map(|(key, _)| key.clone()) else {
                break;
            };
            if let Some(entry) = entries.remove(&oldest) {
                held -= entry.replica.len();
            }
        }
        replica
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str, seq: i64) -> Key {
        Key { user: user.to_owned(), scope: "s".to_owned(), seq, synced_at: 0 }
    }

    fn replica(n: u128) -> Replica {
        Replica { lists: vec![(0..n).map(Uuid::from_u128).collect()] }
    }

    #[test]
    fn a_copy_is_worked_out_once_and_changed_where_kept() {
        let cache = ReplicaCache::default();
        let mut computed = 0;
        for _ in 0..3 {
            let copy = cache
                .get_or_compute(key("u", 7), || {
                    computed += 1;
                    Ok::<_, ()>(replica(2))
                })
                .unwrap();
            assert_eq!(copy.lists[0].len(), 2);
        }
        assert_eq!(computed, 1);
        let kept = cache.get(&key("u", 7)).unwrap();
        let changed = cache.update(key("u", 7), kept, |copy| copy.drop_id(0, &Uuid::from_u128(0)));
        assert_eq!(changed.lists[0], [Uuid::from_u128(1)]);
        assert_eq!(cache.get(&key("u", 7)).unwrap().lists[0], [Uuid::from_u128(1)]);
    }

    #[test]
    fn holding_and_dropping_keep_the_lists_sorted_and_the_sums_right() {
        let mut copy = Replica::from_ids(vec![vec![Uuid::from_u128(5).to_string(), Uuid::from_u128(1).to_string()]]);
        copy.hold(0, Uuid::from_u128(3));
        copy.hold(0, Uuid::from_u128(3));
        copy.drop_id(0, &Uuid::from_u128(5));
        copy.drop_id(0, &Uuid::from_u128(9));
        assert_eq!(copy.lists[0], [Uuid::from_u128(1), Uuid::from_u128(3)]);
        assert_eq!(copy.checksums().referrals, collection_checksum(&[Uuid::from_u128(1), Uuid::from_u128(3)]));
    }

    #[test]
    fn a_phone_keeps_its_newest_positions_and_the_cache_its_bound() {
        let cache = ReplicaCache::new(25);
        for seq in 0..6 {
            cache.insert(key("u", seq), replica(1));
        }
        assert!(cache.get(&key("u", 1)).is_none());
        assert!(cache.get(&key("u", 2)).is_some() && cache.get(&key("u", 5)).is_some());
        cache.insert(key("v", 0), replica(10));
        cache.insert(key("w", 0), replica(10));
        cache.insert(key("x", 0), replica(10));
        assert!(cache.get(&key("v", 0)).is_none(), "the least recently used goes first");
        assert!(cache.get(&key("w", 0)).is_some() && cache.get(&key("x", 0)).is_some());
        let held: usize = cache.lock().by_key.values().map(|entry| entry.replica.len()).sum();
        assert!(held <= 25, "{held} ids held");
    }
}
