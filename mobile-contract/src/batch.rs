//! A whole offline shift in one upload: `POST /api/v1/sync/batch`.
//!
//! The operations are the phone's writes made while it had no data, in the order they were
//! made. Each is exactly the request its own endpoint takes (named in its description), with the
//! `key` it would have sent as `Idempotency-Key`: the same key answers the same whether the write
//! came alone or in a batch, so a batch sent again after a lost answer changes nothing and
//! answers the same.
//!
//! Emergencies are applied first (emergency sightings, emergency alerts and referrals, with what
//! they refer to in the batch), then the rest in order. Each operation gets its own result; one
//! that fails does not undo or block the others, except those that refer to a record it was to
//! make (`batch_dependency_failed`). An operation that refers to a record made by a later one is
//! refused (`batch_out_of_order`); send operations in the order they were made. At most 500
//! operations are applied; those beyond answer `batch_too_large` (send them in the next batch).
//!
//! The records made or changed reach the phone through the next sync; a result carries the id.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::alerts::{AlertAction, CreateAlert};
use crate::identifications::CreateIdentification;
use crate::problem::Problem;
use crate::profiles::LinkIdentification;
use crate::referrals::{CreateReferral, CreateReferralComment};
use crate::rounds::{CheckIn, CheckOut, StopVisit};

/// Operations applied in one request.
pub const MAX_OPERATIONS: usize = 500;

/// An offline shift's writes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncBatch {
    /// In the order they were made; at most 500 are applied.
    #[schema(min_items = 1)]
    pub operations: Vec<BatchOperation>,
}

/// One write of the batch, told apart by `type`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BatchOperation {
    RecordSighting(Box<RecordSightingOperation>),
    LinkSighting(LinkSightingOperation),
    SendReferral(SendReferralOperation),
    CommentReferral(CommentReferralOperation),
    RaiseAlert(RaiseAlertOperation),
    AcknowledgeAlert(AcknowledgeAlertOperation),
    CheckIn(CheckInOperation),
    ArriveAtStop(StopVisitOperation),
    LeaveStop(StopVisitOperation),
    CheckOut(CheckOutOperation),
}

/// `POST /api/v1/identifications`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordSightingOperation {
    pub key: String,
    pub body: CreateIdentification,
}

/// `POST /api/v1/identifications/{identification_id}/link`; the sighting and a new profile may be
/// ones made earlier in the batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkSightingOperation {
    pub key: String,
    pub identification_id: Uuid,
    pub body: LinkIdentification,
}

/// `POST /api/v1/referrals`; its sighting or profile may be one made earlier in the batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SendReferralOperation {
    pub key: String,
    pub body: CreateReferral,
}

/// `POST /api/v1/referrals/{referral_id}/comments`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommentReferralOperation {
    pub key: String,
    pub referral_id: Uuid,
    pub body: CreateReferralComment,
}

/// `POST /api/v1/alerts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RaiseAlertOperation {
    pub key: String,
    pub body: CreateAlert,
}

/// `POST /api/v1/alerts/{alert_id}/acknowledge` (acknowledging again answers the alert as it is).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AcknowledgeAlertOperation {
    pub key: String,
    pub alert_id: Uuid,
    #[serde(default)]
    pub body: AlertAction,
}

/// `POST /api/v1/rounds/{round_id}/check-in`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckInOperation {
    pub key: String,
    pub round_id: Uuid,
    pub body: CheckIn,
}

/// `POST /api/v1/rounds/{round_id}/stops/{position}/arrive` or `.../leave`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StopVisitOperation {
    pub key: String,
    pub round_id: Uuid,
    pub position: i32,
    pub body: StopVisit,
}

/// `POST /api/v1/rounds/{round_id}/check-out`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckOutOperation {
    pub key: String,
    pub round_id: Uuid,
    pub body: CheckOut,
}

/// What each operation came to, in the order of the request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchOutcome {
    pub results: Vec<OperationResult>,
}

/// One operation's result: the status its endpoint would have answered, and the id of the record
/// it made or changed, or the problem.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OperationResult {
    /// Its place in `operations`, from 0.
    pub index: u32,
    /// Its `key`, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// True when this is the stored answer of an earlier request with the same key.
    pub replayed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}
