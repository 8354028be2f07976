//! What reaches a phone: for each collection, which records are in the caller's working set, as
//! the access rules allow the caller to see them, and how they are read for it.

mod alerts;
mod hotspots;
mod profiles;
mod referrals;
mod rounds;
mod sightings;

use chrono::{Duration, NaiveDateTime};

use super::answer::Answer;
use crate::access::AuthUser;
use crate::db::{DbConnection, Tx};
use crate::http::ApiResult;
use crate::territory::index::TerritoryIndex;

/// Whom and when a working set is worked out for.
pub struct Context<'a> {
    pub index: &'a TerritoryIndex,
    pub user: &'a AuthUser,
    pub at: NaiveDateTime,
    /// Closed records and sightings made this many days before `at` are still in the set.
    pub window_days: i64,
}

impl Context<'_> {
    /// Where the working set's window begins at `at`.
    pub fn window_start_at(&self, at: NaiveDateTime) -> NaiveDateTime {
        at - Duration::days(self.window_days)
    }

    pub fn window_start(&self) -> NaiveDateTime {
        self.window_start_at(self.at)
    }
}

/// Which members of a collection a query asks for.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// Those of these ids that are members.
    Only(&'a [String]),
    /// Every member.
    All,
}

/// One collection of the working set.
pub trait Collection: Sync {
    /// The change feed's kind for its records ([`crate::changes::kinds`]).
    fn kind(&self) -> &'static str;

    /// The ids of the caller's members the selection asks for, sorted.
    fn ids(&self, conn: &mut DbConnection, cx: &Context<'_>, selection: Selection<'_>) -> ApiResult<Vec<String>>;

    /// Records that may have entered or left the set only because time passed from `since` to
    /// `cx.at` (the feed does not note those).
    fn moved(&self, _conn: &mut DbConnection, _cx: &Context<'_>, _since: NaiveDateTime) -> ApiResult<Vec<String>> {
        Ok(Vec::new())
    }

    /// Reads these members as the caller may see them into `answer`; returns the ids it could
    /// not show (gone, or not for this caller after all).
    fn put(&self, tx: &mut Tx<'_>, cx: &Context<'_>, ids: &[String], answer: &mut Answer) -> ApiResult<Vec<String>>;
}

/// The collections a phone holds, in the order a full sync sends them.
pub static COLLECTIONS: [&dyn Collection; 6] = [
    &referrals::Referrals,
    &alerts::Alerts,
    &hotspots::Hotspots,
    &sightings::Sightings,
    &profiles::Profiles,
    &rounds::Rounds,
];

/// Applies a [`Selection`] to a query of ids and loads them, sorted.
macro_rules! select_ids {
    ($conn:expr, $query:expr, $id:expr, $selection:expr) => {{
        let mut query = $query.select($id).order($id.asc()).into_boxed();
        match $selection {
            $crate::sync::collections::Selection::Only(ids) => query = query.filter($id.eq_any(ids.to_vec())),
            $crate::sync::collections::Selection::All => {}
        }
        let ids: Vec<String> = query.load($conn)?;
        ids
    }};
}
pub(crate) use select_ids;

/// Reads members one at a time with `read`, putting what it shows and returning the ids it
/// hides (errors that mean "not for this caller" rather than a failure).
fn put_each<T>(
    tx: &mut Tx<'_>,
    ids: &[String],
    mut read: impl FnMut(&mut Tx<'_>, &str) -> ApiResult<T>,
    mut put: impl FnMut(T),
) -> ApiResult<Vec<String>> {
    use crate::http::ErrorCode;
    let mut hidden = Vec::new();
    for id in ids {
        match read(tx, id) {
            Ok(record) => put(record),
            Err(error)
                if matches!(error.code, ErrorCode::NotFound | ErrorCode::Forbidden | ErrorCode::NotYourAgency) =>
            {
                hidden.push(id.clone())
            }
            Err(error) => return Err(error),
        }
    }
    Ok(hidden)
}

/// The ids of `asked` that `shown` does not hold.
fn missing<'a>(asked: &[String], shown: impl IntoIterator<Item = &'a uuid::Uuid>) -> Vec<String> {
    let shown: std::collections::HashSet<String> = shown.into_iter().map(uuid::Uuid::to_string).collect();
    asked.iter().filter(|id| !shown.contains(*id)).cloned().collect()
}
