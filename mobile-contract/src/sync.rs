//! Sync: a phone's working set on its first call, then only what changed.
//!
//! `GET /api/v1/sync` without a cursor starts a full sync: the answer has `reset: true` (drop
//! what earlier syncs left) and the first page of the working set. Every answer carries a
//! `cursor`; while `has_more` is true, ask again at once with it. Later calls with the last cursor
//! answer only the records that changed since (`put`: the record as you may see it now, replacing
//! the one held; `remove`: drop it — deleted, gone out of your reach, or out of the working set).
//! A call may answer `reset: true` again (your roles, agency or areas changed): drop everything
//! held, then apply. The cursor is the server's, never the phone's clock; keep it as it is.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::alerts::Alert;
use crate::hotspots::Hotspot;
use crate::referrals::Referral;

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// The `cursor` of the last answer; without it a full sync starts.
    pub cursor: Option<String>,
    /// Records per page, 1–500 (default 200).
    #[param(minimum = 1, maximum = 500)]
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
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ReferralChanges {
    pub put: Vec<Referral>,
    pub remove: Vec<Uuid>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AlertChanges {
    pub put: Vec<Alert>,
    pub remove: Vec<Uuid>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct HotspotChanges {
    pub put: Vec<Hotspot>,
    pub remove: Vec<Uuid>,
}
