use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a person does in Terren. Permissions come from roles; the data a person may see comes
/// from their agency and the areas it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    FieldWorker,
    DutyOfficer,
    Coordinator,
    CaseManager,
    PartnerResponder,
    AgencyAdmin,
    NationalViewer,
    SystemAdmin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::FieldWorker,
        Role::DutyOfficer,
        Role::Coordinator,
        Role::CaseManager,
        Role::PartnerResponder,
        Role::AgencyAdmin,
        Role::NationalViewer,
        Role::SystemAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::FieldWorker => "field_worker",
            Role::DutyOfficer => "duty_officer",
            Role::Coordinator => "coordinator",
            Role::CaseManager => "case_manager",
            Role::PartnerResponder => "partner_responder",
            Role::AgencyAdmin => "agency_admin",
            Role::NationalViewer => "national_viewer",
            Role::SystemAdmin => "system_admin",
        }
    }

    pub fn parse(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == code)
    }
}

/// A single thing a person may do. The app uses the list in `GET /api/v1/me` to show or hide
/// actions; the server checks the same list on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read areas, agencies and vocabularies.
    ReferenceRead,
    /// Record identifications of children and adults in the field.
    IdentificationsCreate,
    /// Read individual identifications within the agency's areas.
    IdentificationsRead,
    /// See exact coordinates of a sighting (others see them coarsened).
    LocationsReadPrecise,
    /// See names and family contacts of a child.
    ChildrenReadNames,
    /// See sensitive fields (ethnicity, health, exploitation indicators).
    ChildrenReadSensitive,
    /// Merge and unmerge child profiles.
    ChildrenMerge,
    /// Correct a child's profile (sex, birth year, names, contacts): those who work the case.
    ChildrenEdit,
    /// Set a child's status (close, reopen): those who manage the case.
    ChildrenStatusSet,
    /// Make referrals to other agencies.
    ReferralsCreate,
    /// Accept, decline and report outcomes of referrals addressed to the agency.
    ReferralsRespond,
    /// Share a child's details in a referral without recorded consent, giving a reason.
    ReferralsOverrideConsent,
    /// Refer to an agency that does not serve the place where the person was found.
    ReferralsRouteAnywhere,
    /// Raise alerts (manual, from the field).
    AlertsRaise,
    /// Acknowledge and resolve alerts.
    AlertsRespond,
    /// Plan rotas, rounds and hotspots of the agency.
    PlanningManage,
    /// Read de-identified, aggregated statistics.
    StatisticsRead,
    /// Create and disable users, reset passwords (own agency unless `system_admin`).
    UsersManage,
    /// Edit agencies (own agency unless `system_admin`).
    AgenciesManage,
    /// Edit areas and import boundaries.
    AreasManage,
    /// Read the audit log.
    AuditRead,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(value: &Option<Option<T>>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}
