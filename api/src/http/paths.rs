//! Path parameters as the published contract describes them: one struct per path shape, named in
//! a handler's `#[utoipa::path(params(...))]`.

use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

macro_rules! id_path {
    ($($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident: $ty:ty),+ $(,)? })+) => {$(
        $(#[$doc])*
        #[derive(Debug, Deserialize, IntoParams)]
        #[into_params(parameter_in = Path)]
        pub struct $name {
            $($(#[$field_doc])* pub $field: $ty,)+
        }
    )+};
}

id_path! {
    /// `/users/{id}`
    UserPath {
        /// User id
        id: Uuid,
    }
    /// `/agencies/{id}` and the agency's policies, readiness and occupancy
    AgencyPath {
        /// Agency id
        id: Uuid,
    }
    /// `/alerts/{id}`
    AlertPath {
        /// Alert id
        id: Uuid,
    }
    /// `/devices/{id}`
    DevicePath {
        /// Device id
        id: Uuid,
    }
    /// `/webhook-endpoints/{id}`
    WebhookEndpointPath {
        /// Endpoint id
        id: Uuid,
    }
    /// `/hotspots/{id}`
    HotspotPath {
        /// Hotspot id
        id: Uuid,
    }
    /// `/identifications/{id}`
    IdentificationPath {
        /// Identification id
        id: Uuid,
    }
    /// `/child-profiles/{id}`
    ProfilePath {
        /// Profile id
        id: Uuid,
    }
    /// `/child-profiles/{id}/merge`
    SurvivingProfilePath {
        /// The profile that stays
        id: Uuid,
    }
    /// `/child-profiles/{id}/unmerge`
    MergedIntoProfilePath {
        /// The profile that was merged into
        id: Uuid,
    }
    /// `/protection-cases/{id}`
    CasePath {
        /// Protection case id
        id: Uuid,
    }
    /// `/reports/versions/{id}`
    ReportVersionPath {
        /// Frozen report id
        id: Uuid,
    }
    /// `/referrals/{id}`
    ReferralPath {
        /// Referral id
        id: Uuid,
    }
    /// `/routing-rules/{id}`
    RoutingRulePath {
        /// Rule id
        id: Uuid,
    }
    /// A policy kept per municipality, with a default
    PolicyScopePath {
        /// Municipality code, or `default`
        scope: String,
    }
    /// A municipality's own settings
    MunicipalityPath {
        /// Municipality code (`AL221`)
        municipality: String,
    }
    /// `/calendar-feeds/{feed_id}`
    CalendarFeedPath {
        /// Calendar feed id
        feed_id: Uuid,
    }
    /// `/calendar/{token}.ics`
    CalendarTokenPath {
        /// The secret token from the feed's `url`
        token: String,
    }
    /// `/schedules/{id}`
    SchedulePath {
        /// Schedule id
        id: Uuid,
    }
    /// `/schedules/{id}/overrides/{override_id}`
    OverridePath {
        /// Schedule id
        id: Uuid,
        /// Override id
        override_id: Uuid,
    }
    /// `/schedules/{id}/swaps/{swap_id}`
    SwapPath {
        /// Schedule id
        id: Uuid,
        /// Swap request id
        swap_id: Uuid,
    }
    /// `/rounds/{id}`
    RoundPath {
        /// Round id
        id: Uuid,
    }
    /// `/rounds/{id}/stops/{position}`
    RoundStopPath {
        /// Round id
        id: Uuid,
        /// Stop position, from 0
        position: i32,
    }
    /// `/round-series/{id}`
    SeriesPath {
        /// Series id
        id: Uuid,
    }
    /// `/teams/{id}`
    TeamPath {
        /// Team id
        id: Uuid,
    }
}
