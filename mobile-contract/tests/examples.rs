//! Every example in `examples/` is a valid instance of its wire type: it deserializes, passes the
//! type's validation rules, and serializes back to the same JSON.
#![expect(clippy::unwrap_used, reason = "tests fail loudly on the unexpected")]

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use terren_contract::agencies::{Agency, AgencyUpdate, CreateAgencyRequest};
use terren_contract::alerts::{
    Alert, AlertWebhook, CreateAlert, NotificationRules, PutEscalationPolicy, RegisterDevice, TimelineEntry,
};
use terren_contract::areas::{Area, LocateResponse};
use terren_contract::auth::{LoginRequest, Me, RefreshRequest, TokenResponse};
use terren_contract::batch::{BatchOutcome, SyncBatch};
use terren_contract::hotspots::{Hotspot, PutHotspot};
use terren_contract::identifications::{CreateIdentification, Identification, IdentificationGrid};
use terren_contract::lifeline::{InboundSms, LifelineEnrolment};
use terren_contract::problem::Problem;
use terren_contract::profiles::{
    CandidateList, ChildProfile, ChildProfileUpdate, LinkIdentification, LinkResult, MergeProfiles, ProfileHistory,
    ProfileMerge, SightingCounts, UnmergeProfiles,
};
use terren_contract::referrals::{
    CloseReferral, CreateReferral, DeclineReferral, PutDeadlinePolicy, PutRoutingRule, Referral,
};
use terren_contract::rounds::{CheckIn, PutRoundSeries, Round};
use terren_contract::schedules::{CreateSchedule, OnCall};
use terren_contract::sync::SyncPage;
use terren_contract::users::{ChangePasswordRequest, CreateUserRequest, User};
use terren_contract::vocabularies::Vocabularies;
use validator::Validate;

/// Reads an example and checks it against its type.
type Check = fn(&str);

fn examples_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
}

fn read(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(examples_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let original = read(name);
    let value: T = serde_json::from_value(original.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let again = serde_json::to_value(&value).unwrap();
    assert_eq!(strip_nulls(&again), strip_nulls(&original), "{name} does not survive a round trip");
    value
}

/// Absent and `null` optional fields mean the same on the wire.
fn strip_nulls(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), strip_nulls(v))).collect()
        }
        serde_json::Value::Array(items) => items.iter().map(strip_nulls).collect(),
        other => other.clone(),
    }
}

fn request<T: DeserializeOwned + Serialize + Validate>(name: &str) {
    let value: T = round_trip(name);
    value.validate().unwrap_or_else(|e| panic!("{name} breaks its own rules: {e}"));
}

#[test]
fn every_example_is_a_valid_instance_of_its_type() {
    let checks: Vec<(&str, Check)> = vec![
        ("login_request.json", request::<LoginRequest>),
        ("create_schedule_request.json", request::<CreateSchedule>),
        ("on_call.json", |n| drop(round_trip::<OnCall>(n))),
        ("create_alert_request.json", request::<CreateAlert>),
        ("alert.json", |n| drop(round_trip::<Alert>(n))),
        ("alert_timeline.json", |n| drop(round_trip::<Vec<TimelineEntry>>(n))),
        ("escalation_policy_request.json", request::<PutEscalationPolicy>),
        ("register_device_request.json", request::<RegisterDevice>),
        ("notification_rules.json", request::<NotificationRules>),
        ("problem_alert_already_acknowledged.json", |n| drop(round_trip::<Problem>(n))),
        ("create_referral_request.json", request::<CreateReferral>),
        ("referral.json", |n| drop(round_trip::<Referral>(n))),
        ("decline_referral_request.json", request::<DeclineReferral>),
        ("close_referral_request.json", request::<CloseReferral>),
        ("routing_rule_request.json", request::<PutRoutingRule>),
        ("deadline_policy_request.json", request::<PutDeadlinePolicy>),
        ("problem_shelter_full.json", |n| drop(round_trip::<Problem>(n))),
        ("create_hotspot_request.json", request::<PutHotspot>),
        ("hotspot.json", |n| drop(round_trip::<Hotspot>(n))),
        ("round_series_request.json", request::<PutRoundSeries>),
        ("check_in_request.json", request::<CheckIn>),
        ("round.json", |n| drop(round_trip::<Round>(n))),
        ("problem_round_conflict.json", |n| drop(round_trip::<Problem>(n))),
        ("refresh_request.json", request::<RefreshRequest>),
        ("change_password_request.json", request::<ChangePasswordRequest>),
        ("create_user_request.json", request::<CreateUserRequest>),
        ("agency_update.json", request::<AgencyUpdate>),
        ("create_agency_request.json", request::<CreateAgencyRequest>),
        ("create_identification_request.json", request::<CreateIdentification>),
        ("identification.json", |n| drop(round_trip::<Identification>(n))),
        ("identification_coarse.json", |n| drop(round_trip::<Identification>(n))),
        ("identification_grid.json", |n| drop(round_trip::<IdentificationGrid>(n))),
        ("problem_idempotency_key_reused.json", |n| drop(round_trip::<Problem>(n))),
        ("token_response.json", |n| drop(round_trip::<TokenResponse>(n))),
        ("token_response_lifeline.json", |n| drop(round_trip::<TokenResponse>(n))),
        ("me.json", |n| drop(round_trip::<Me>(n))),
        ("user.json", |n| drop(round_trip::<User>(n))),
        ("area.json", |n| drop(round_trip::<Area>(n))),
        ("agency.json", |n| drop(round_trip::<Agency>(n))),
        ("vocabularies.json", |n| drop(round_trip::<Vocabularies>(n))),
        ("locate_response_boundary.json", |n| drop(round_trip::<LocateResponse>(n))),
        ("locate_response_nearest_centroid.json", |n| drop(round_trip::<LocateResponse>(n))),
        ("locate_response_outside.json", |n| drop(round_trip::<LocateResponse>(n))),
        ("problem_validation_failed.json", |n| drop(round_trip::<Problem>(n))),
        ("problem_too_many_attempts.json", |n| drop(round_trip::<Problem>(n))),
        ("problem_already_linked.json", |n| drop(round_trip::<Problem>(n))),
        ("link_request_new_profile.json", request::<LinkIdentification>),
        ("link_request_existing_profile.json", request::<LinkIdentification>),
        ("child_profile_update.json", request::<ChildProfileUpdate>),
        ("merge_profiles_request.json", request::<MergeProfiles>),
        ("unmerge_profiles_request.json", request::<UnmergeProfiles>),
        ("link_result.json", |n| drop(round_trip::<LinkResult>(n))),
        ("child_profile.json", |n| drop(round_trip::<ChildProfile>(n))),
        ("candidate_list.json", |n| drop(round_trip::<CandidateList>(n))),
        ("profile_merge.json", |n| drop(round_trip::<ProfileMerge>(n))),
        ("profile_history.json", |n| drop(round_trip::<ProfileHistory>(n))),
        ("sighting_counts.json", |n| drop(round_trip::<SightingCounts>(n))),
        ("sync_batch_request.json", |n| drop(round_trip::<SyncBatch>(n))),
        ("batch_outcome.json", |n| drop(round_trip::<BatchOutcome>(n))),
        ("alert_webhook.json", |n| drop(round_trip::<AlertWebhook>(n))),
        ("sync_page_full.json", |n| drop(round_trip::<SyncPage>(n))),
        ("sync_page.json", |n| drop(round_trip::<SyncPage>(n))),
        ("lifeline_enrolment.json", |n| drop(round_trip::<LifelineEnrolment>(n))),
        ("inbound_sms_request.json", |n| drop(round_trip::<InboundSms>(n))),
    ];
    let listed: BTreeSet<&str> = checks.iter().map(|(name, _)| *name).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    assert_eq!(listed, on_disk, "every example file is checked, and every checked file exists");
    for (name, check) in checks {
        check(name);
    }
}

#[test]
fn requests_reject_unknown_fields() {
    let mut login = read("login_request.json");
    login["remember_me"] = serde_json::json!(true);
    assert!(serde_json::from_value::<LoginRequest>(login).is_err());
}

#[test]
fn an_absent_field_and_an_explicit_null_differ_in_updates() {
    let update: AgencyUpdate = serde_json::from_value(read("agency_update.json")).unwrap();
    assert_eq!(update.hours, Some(None), "null clears");
    assert_eq!(update.address, None, "absent keeps");
    assert_eq!(update.phone, Some(Some("+355 4 222 2222".into())));
}

/// The examples the document shows are the files checked above, as they are on disk.
#[test]
fn the_documents_examples_are_the_checked_files() {
    use terren_contract::examples::EXAMPLES;
    for example in EXAMPLES {
        let on_disk = std::fs::read_to_string(examples_dir().join(example.file)).unwrap();
        assert_eq!(on_disk, example.json, "{}", example.file);
    }
    assert!(EXAMPLES.len() >= 60, "{}", EXAMPLES.len());
}

/// The lifeline examples tell of one phone: the gateway's form carries the lifeline module's
/// example message, made by the session of the login example with the enrolment's secret, and
/// sent to the enrolment's number.
#[test]
fn the_lifeline_examples_fit_together() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let login: TokenResponse = serde_json::from_value(read("token_response_lifeline.json")).unwrap();
    let enrolment: LifelineEnrolment = serde_json::from_value(read("lifeline_enrolment.json")).unwrap();
    assert_eq!(login.lifeline.as_ref(), Some(&enrolment));
    let inbound: InboundSms = serde_json::from_value(read("inbound_sms_request.json")).unwrap();
    assert_eq!(inbound.to.as_deref(), Some(enrolment.inbound_number.as_str()));
    let parsed = terren_contract::lifeline::parse(&inbound.body).unwrap();
    assert!(parsed.verify(&URL_SAFE_NO_PAD.decode(&enrolment.device_secret).unwrap()));
    assert_eq!(parsed.message.session_id, login.session_id);
}
