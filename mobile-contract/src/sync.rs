//! Sync: a phone's working set on its first call, then only what changed.
//!
//! `GET /api/v1/sync` without a cursor starts a full sync: the answer has `reset: true` (drop
//! what earlier syncs left) and the first page of the working set. Every answer carries a
//! `cursor`; while `has_more` is true, ask again at once with it. Later calls with the last cursor
//! answer only the records that changed since (`put`: the record as you may see it now, replacing
//! the one held; `remove`: drop it — deleted, merged away, gone out of your reach, or out of the
//! working set). A call may answer `reset: true` again (your roles, agency, areas or teams
//! changed): drop everything held, then apply. The cursor is the server's, never the phone's
//! clock; keep it as it is.
//!
//! The last page of a sync (`has_more: false`) also carries who is on duty for your agency now
//! and next (`on_call`, replacing what you held), the `checksums` of every collection as you
//! should now hold it, and the `reference_etag` of the reference data
//! (`GET /api/v1/sync/reference`): fetch that again only when the tag differs from the one you
//! hold.
//!
//! **Checksums.** A record's checksum is the first four bytes, read as a big-endian unsigned
//! number, of the SHA-256 of its id written as a lowercase hyphenated UUID; a collection's is
//! the sum of its records' checksums modulo 2³². When the sum over what you hold differs from
//! `checksums`, something was lost or misapplied on the way: sync once more with the cursor you
//! got, and if the sums still differ, start a full sync (call without a cursor).
//! Example: the collection holding only `00000000-0000-0000-0000-000000000000` has checksum
//! `314128252`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::agencies::Agency;
use crate::alerts::Alert;
use crate::areas::Area;
use crate::hotspots::Hotspot;
use crate::identifications::Identification;
use crate::profiles::ChildProfile;
use crate::referrals::Referral;
use crate::rounds::Round;
use crate::schedules::OnCall;
use crate::vocabularies::Vocabulary;

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// The `cursor` of the last answer; without it a full sync starts.
    pub cursor: Option<String>,
    /// Records per page (default 200).
    #[validate(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

/// One page of a sync.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncPage {
    /// Give it back as `cursor` on the next call.
    pub cursor: String,
    /// More of this sync follows: ask again at once with `cursor`.
    pub has_more: bool,
    /// Drop every record earlier syncs left before applying this page.
    pub reset: bool,
    /// Referrals your agency sent or received, or you made: open ones, and closed ones sent within
    /// the working-set window.
    pub referrals: ReferralChanges,
    /// Alerts you raised, your agency must answer, or you were paged for: open ones, and closed
    /// ones raised within the working-set window.
    pub alerts: AlertChanges,
    /// Active hotspots of your agency and of the areas it serves.
    pub hotspots: HotspotChanges,
    /// Sightings in your scope made within the working-set window, for recognising a child
    /// offline: exact or coarse, with or without names, as your role reads them.
    pub identifications: IdentificationChanges,
    /// The child profiles those sightings are linked to, where you may see them.
    pub profiles: ProfileChanges,
    /// Your teams' rounds from yesterday to a week ahead, with their stops.
    pub rounds: RoundChanges,
    /// On the last page only: who is on duty now and next for your agency, one entry per live
    /// rota; replaces what you held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_call: Option<Vec<OnCall>>,
    /// On the last page only: what each collection should now hold (see the module's notes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksums: Option<SyncChecksums>,
    /// On the last page only: the current tag of `GET /api/v1/sync/reference`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_etag: Option<String>,
}

macro_rules! changes {
    ($($(#[$doc:meta])* $name:ident of $record:ty;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            /// Records to add or replace, as you may see them now.
            pub put: Vec<$record>,
            /// Ids of records to drop.
            pub remove: Vec<Uuid>,
        }
    )*};
}

changes! {
    /// Changes to the referrals held.
    ReferralChanges of Referral;
    /// Changes to the alerts held.
    AlertChanges of Alert;
    /// Changes to the hotspots held.
    HotspotChanges of Hotspot;
    /// Changes to the sightings held.
    IdentificationChanges of Identification;
    /// Changes to the child profiles held.
    ProfileChanges of ChildProfile;
    /// Changes to the rounds held.
    RoundChanges of Round;
}

/// The checksum of each collection as the phone should hold it after this page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncChecksums {
    pub referrals: u32,
    pub alerts: u32,
    pub hotspots: u32,
    pub identifications: u32,
    pub profiles: u32,
    pub rounds: u32,
}

/// A record's checksum: see the module's notes.
pub fn record_checksum(id: &Uuid) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.hyphenated().to_string().as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A collection's checksum: the sum of its records' checksums modulo 2³².
pub fn collection_checksum<'a>(ids: impl IntoIterator<Item = &'a Uuid>) -> u32 {
    ids.into_iter().fold(0u32, |sum, id| sum.wrapping_add(record_checksum(id)))
}

/// What a phone needs to work offline that changes rarely: the vocabularies, the areas your
/// agency serves (and every area below them), and the active agencies with their phones. Answers
/// `ETag`; send it back as `If-None-Match` to get `304 Not Modified` while nothing changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncReference {
    pub vocabularies: Vec<Vocabulary>,
    pub areas: Vec<Area>,
    pub agencies: Vec<Agency>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_the_documented_sums() {
        let nil = Uuid::nil();
        assert_eq!(record_checksum(&nil), 314_128_252);
        let other = Uuid::from_u128(1);
        let expected = record_checksum(&nil).wrapping_add(record_checksum(&other));
        assert_eq!(collection_checksum([&nil, &other]), expected);
        assert_eq!(collection_checksum([&other, &nil]), expected);
        assert_eq!(collection_checksum(std::iter::empty()), 0);
    }
}
