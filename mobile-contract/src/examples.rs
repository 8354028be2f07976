//! The files in `examples/`, each attached to the schema it is an instance of: the document's
//! schema examples are these files, and `tests/examples.rs` checks each against its type.

use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};

/// One example file and the schema it shows.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub file: &'static str,
    pub schema: &'static str,
    pub json: &'static str,
}

macro_rules! examples {
    ($($file:literal => $schema:literal,)*) => {
        /// Every example shown in the document, in the order a schema lists them.
        pub const EXAMPLES: &[Example] = &[
            $(Example { file: $file, schema: $schema, json: include_str!(concat!("../examples/", $file)) },)*
        ];
    };
}

examples! {
    "agency.json" => "Agency",
    "agency_update.json" => "AgencyUpdate",
    "alert.json" => "Alert",
    "area.json" => "Area",
    "candidate_list.json" => "CandidateList",
    "change_password_request.json" => "ChangePasswordRequest",
    "check_in_request.json" => "CheckIn",
    "child_profile.json" => "ChildProfile",
    "child_profile_update.json" => "ChildProfileUpdate",
    "close_referral_request.json" => "CloseReferral",
    "create_agency_request.json" => "CreateAgencyRequest",
    "create_alert_request.json" => "CreateAlert",
    "create_hotspot_request.json" => "PutHotspot",
    "create_identification_request.json" => "CreateIdentification",
    "create_referral_request.json" => "CreateReferral",
    "create_schedule_request.json" => "CreateSchedule",
    "create_user_request.json" => "CreateUserRequest",
    "deadline_policy_request.json" => "PutDeadlinePolicy",
    "decline_referral_request.json" => "DeclineReferral",
    "escalation_policy_request.json" => "PutEscalationPolicy",
    "hotspot.json" => "Hotspot",
    "identification.json" => "Identification",
    "identification_coarse.json" => "Identification",
    "identification_grid.json" => "IdentificationGrid",
    "link_request_new_profile.json" => "LinkIdentification",
    "link_request_existing_profile.json" => "LinkIdentification",
    "link_result.json" => "LinkResult",
    "locate_response_boundary.json" => "LocateResponse",
    "locate_response_nearest_centroid.json" => "LocateResponse",
    "locate_response_outside.json" => "LocateResponse",
    "login_request.json" => "LoginRequest",
    "me.json" => "Me",
    "merge_profiles_request.json" => "MergeProfiles",
    "notification_rules.json" => "NotificationRules",
    "on_call.json" => "OnCall",
    "problem_validation_failed.json" => "Problem",
    "problem_alert_already_acknowledged.json" => "Problem",
    "problem_already_linked.json" => "Problem",
    "problem_idempotency_key_reused.json" => "Problem",
    "problem_round_conflict.json" => "Problem",
    "problem_shelter_full.json" => "Problem",
    "problem_too_many_attempts.json" => "Problem",
    "profile_history.json" => "ProfileHistory",
    "profile_merge.json" => "ProfileMerge",
    "referral.json" => "Referral",
    "refresh_request.json" => "RefreshRequest",
    "register_device_request.json" => "RegisterDevice",
    "round.json" => "Round",
    "round_series_request.json" => "PutRoundSeries",
    "routing_rule_request.json" => "PutRoutingRule",
    "sighting_counts.json" => "SightingCounts",
    "token_response.json" => "TokenResponse",
    "token_response_lifeline.json" => "TokenResponse",
    "unmerge_profiles_request.json" => "UnmergeProfiles",
    "user.json" => "User",
    "vocabularies.json" => "Vocabularies",
    "sync_page_full.json" => "SyncPage",
    "sync_page.json" => "SyncPage",
    "sync_batch_request.json" => "SyncBatch",
    "batch_outcome.json" => "BatchOutcome",
    "alert_webhook.json" => "AlertWebhook",
    "lifeline_enrolment.json" => "LifelineEnrolment",
    "inbound_sms_request.json" => "InboundSms",
}

/// Sets the `examples` of every schema that has example files. Fails, naming the file, when a
/// file is not JSON or its schema is not in the document.
pub fn apply(openapi: &mut OpenApi) -> Result<(), String> {
    let Some(components) = openapi.components.as_mut() else { return Err("no components".to_owned()) };
    for example in EXAMPLES {
        let value: serde_json::Value =
            serde_json::from_str(example.json).map_err(|e| format!("{}: not JSON: {e}", example.file))?;
        match components.schemas.get_mut(example.schema) {
            Some(RefOr::T(Schema::Object(object))) => object.examples.push(value),
            Some(RefOr::T(Schema::OneOf(one_of))) => one_of.examples.push(value),
            Some(RefOr::T(Schema::AllOf(all_of))) => all_of.examples.push(value),
            Some(RefOr::T(Schema::Array(array))) => array.examples.push(value),
            _ => return Err(format!("{}: no schema {} to show it in", example.file, example.schema)),
        }
    }
    Ok(())
}
