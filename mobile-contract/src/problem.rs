use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// RFC 9457 problem details, returned for every error with `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI identifying the problem type (`about:blank` style, stable per `code`).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short human-readable summary in the language chosen by `Accept-Language` (`sq` or `en`).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable snake_case identifier the app can switch on: one of the `ErrorCode` schema's values
    /// (new ones may be added; treat an unknown one by `status`).
    pub code: String,
    /// Per-field problems for validation errors (422).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One problem with one field of the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Path of the field, e.g. `lat` or `roles[1]`.
    pub field: String,
    /// What is wrong with the field: one of the `FieldErrorCode` schema's values.
    pub code: FieldErrorCode,
    /// Human-readable explanation (English).
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: FieldErrorCode, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), code, message: message.into() }
    }
}

macro_rules! field_error_codes {
    ($($variant:ident => ($code:literal, $meaning:literal),)*) => {
        /// Every code a `FieldError` may carry. The server builds field errors only from these, so
        /// the list in the contract is the list the server emits.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum FieldErrorCode {
            $(#[serde(rename = $code)] $variant,)*
        }

        impl FieldErrorCode {
            pub const ALL: &'static [FieldErrorCode] = &[$(FieldErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(FieldErrorCode::$variant => $code,)* }
            }

            /// What the code means, for the contract's description.
            pub fn meaning(self) -> &'static str {
                match self { $(FieldErrorCode::$variant => $meaning,)* }
            }

            pub fn parse(code: &str) -> Option<FieldErrorCode> {
                FieldErrorCode::ALL.iter().copied().find(|known| known.as_str() == code)
            }
        }
    };
}

field_error_codes! {
    Required => ("required", "The field is missing, or one of several alternatives must be sent."),
    UnknownField => ("unknown_field", "The body has a field the operation does not know."),
    InvalidType => ("invalid_type", "The value has the wrong JSON type or shape."),
    UnknownCode => ("unknown_code", "Not one of the allowed values: an enum value or an active vocabulary code."),
    InvalidLength => ("invalid_length", "Text or list length outside the schema's minLength/maxLength or minItems/maxItems."),
    OutOfRange => ("out_of_range", "A number (or a span, a count) outside what is allowed; numbers follow the schema's minimum/maximum."),
    Url => ("url", "Not an absolute URL."),
    NulCharacter => ("nul_character", "Text contains the NUL character (U+0000)."),
    InvalidFormat => ("invalid_format", "Text that does not parse: a time, a date, a box, a reference."),
    InvalidValue => ("invalid_value", "A value that is well formed but not acceptable here."),
    InvalidTime => ("invalid_time", "Not a local time of day HH:MM."),
    InvalidPhone => ("invalid_phone", "Not an international phone number (+355…)."),
    InvalidCursor => ("invalid_cursor", "Not a cursor of this list."),
    Blank => ("blank", "Text without letters where a name is needed."),
    TooShort => ("too_short", "A search term too short to search with."),
    InFuture => ("in_future", "A time later than now where a past one is needed."),
    InPast => ("in_past", "A time earlier than now where a future one is needed."),
    EndsBeforeStart => ("ends_before_start", "An end not after its start."),
    BeforeFrom => ("before_from", "`to` not after `from`."),
    BeforeSent => ("before_sent", "A time before the referral was sent."),
    BeforeOpened => ("before_opened", "A time before the case was opened."),
    NotBeforePeriod => ("not_before_period", "A baseline period that does not end before the reported period begins."),
    SpanTooLong => ("span_too_long", "A span longer than the operation takes at once."),
    ZeroLength => ("zero_length", "A window that starts and ends at the same time."),
    NotWholeDay => ("not_whole_day", "Statistics windows must start and end at midnight UTC."),
    NonexistentLocalTime => ("nonexistent_local_time", "A local time skipped by a daylight-saving change."),
    UnknownTimeZone => ("unknown_time_zone", "Not an IANA time zone."),
    UnknownArea => ("unknown_area", "No area with this code."),
    UnknownAgency => ("unknown_agency", "No such active agency."),
    UnknownTable => ("unknown_table", "No report table with this id."),
    UnknownUser => ("unknown_user", "No such active user."),
    UnknownParticipant => ("unknown_participant", "Not an active member of the schedule's agency."),
    UnknownIdentification => ("unknown_identification", "No such sighting within your scope."),
    UnknownProfile => ("unknown_profile", "No such child profile within your scope."),
    UnknownRound => ("unknown_round", "No such round."),
    UnknownReferral => ("unknown_referral", "No such referral of this child received by your unit."),
    OneOfRequired => ("one_of_required", "Send exactly one of the alternatives."),
    Inconsistent => ("inconsistent", "Disagrees with another field of the request (birth year and age, subject type and age)."),
    Conflicting => ("conflicting", "Contradicts another field of the request."),
    Unchanged => ("unchanged", "The new value equals the current one."),
    WrongPassword => ("wrong_password", "The current password is wrong."),
    SameProfile => ("same_profile", "A profile cannot be merged into itself."),
    ProfileMismatch => ("profile_mismatch", "The sighting is linked to another profile."),
    SexMismatch => ("sex_mismatch", "The profiles record different sexes."),
    ConsentRequired => ("consent_required", "Sharing details needs recorded consent or an override reason."),
    NoResponsibleAgency => ("no_responsible_agency", "No agency serves this place for this person: choose one."),
    AgencyDoesNotTakeCase => ("agency_does_not_take_case", "The chosen agency does not offer what the case needs."),
    AgencyOutsideArea => ("agency_outside_area", "The chosen agency does not serve the place."),
    OutsideAgencyArea => ("outside_agency_area", "The place is outside the areas your agency serves."),
    OutcomeRequired => ("outcome_required", "A referral is closed with an outcome."),
    NotAllowed => ("not_allowed", "A filter or cut your permissions do not allow."),
    OtherAgency => ("other_agency", "A member of another agency where only your own may be."),
    InactiveTeam => ("inactive_team", "The team is no longer active."),
    OutsideRound => ("outside_round", "The sighting was not made during the round."),
    OutsideWindow => ("outside_window", "Check-in is possible from half an hour before a round until it ends."),
    GeneratesNothing => ("generates_nothing", "The rule plans no round from today on."),
    OverlappingWindows => ("overlapping_windows", "Two windows of one rule overlap."),
    OverlappingLayers => ("overlapping_layers", "Two layers of the same priority are on duty at once."),
    DuplicateName => ("duplicate_name", "Two items have the same name."),
    InvalidParticipant => ("invalid_participant", "A participant is one person or a pair of two different people."),
    WithoutLayers => ("without_layers", "`effective_from` goes with new layers."),
    NotOnDuty => ("not_on_duty", "You are not on duty for the whole span."),
    AlreadyOnDuty => ("already_on_duty", "You are on duty during part of this span."),
    OwnSwap => ("own_swap", "You offered this swap; another member takes it."),
    NoWorkingTime => ("no_working_time", "The working calendar has no working time in reach."),
    UnreachableStep => ("unreachable_step", "An escalation step reaches nobody."),
    NoPolicy => ("no_policy", "There is no policy yet: omit `version`."),
    Unreachable => ("unreachable", "Without push you can be reached only by SMS, and there is no phone number."),
    TooOld => ("too_old", "A time too far in the past to be right; check the phone's clock."),
    TooFar => ("too_far", "Too far from the place it must be near."),
    UnknownHotspot => ("unknown_hotspot", "No such active hotspot."),
    UnknownSchedule => ("unknown_schedule", "No such schedule in the agency."),
    UnknownWebhook => ("unknown_webhook", "No such webhook endpoint in the agency."),
    CannotRespond => ("cannot_respond", "The person's role may not open and acknowledge alerts."),
    NotDhisPeriod => ("not_a_dhis_period", "DHIS2 takes a year, a quarter or a half-year, not a run of days."),
    UnknownExportFormat => ("unknown_export_format", "Not a format reports are exported as: `csv`, `xlsx` or `dhis2`."),
    NotDhisUid => ("not_a_dhis_uid", "Not a DHIS2 uid: 11 characters, a letter then letters and digits."),
    DuplicateEntry => ("duplicate_entry", "The list already maps the same thing."),
}

impl PartialSchema for FieldErrorCode {
    fn schema() -> RefOr<Schema> {
        let listed: Vec<String> =
            FieldErrorCode::ALL.iter().map(|code| format!("- `{}`: {}", code.as_str(), code.meaning())).collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(FieldErrorCode::ALL.iter().map(|code| code.as_str())))
            .description(Some(format!(
                "The values of `FieldError.code`. Switch on them; new ones may be added, so treat one you do \
                 not know as a generic problem with the field.\n\n{}",
                listed.join("\n")
            )))
            .into()
    }
}

impl ToSchema for FieldErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FieldErrorCode")
    }
}

impl std::fmt::Display for FieldErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
