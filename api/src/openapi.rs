//! The published contract: OpenAPI 3.1 generated from the handlers and wire types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{
    accounts, agencies, alerts, auth, hotspots, identifications, ops, profiles, referrals, rota, rounds, territory,
    vocabularies,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Terren API",
        description = "Backend for Albania's street-outreach teams, mobile service units and 24/7 duty staff. \
Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`; titles follow \
`Accept-Language` (`sq` default, `en`). Times are RFC 3339 in UTC."
    ),
    paths(
        auth::routes::login,
        auth::routes::refresh,
        auth::routes::logout,
        auth::routes::me,
        auth::routes::change_password,
        accounts::routes::create_user,
        accounts::routes::list_users,
        accounts::routes::get_user,
        accounts::routes::disable_user,
        accounts::routes::enable_user,
        accounts::routes::reset_password,
        accounts::routes::list_lockouts,
        accounts::routes::lift_lockout,
        territory::routes::list_areas,
        territory::routes::locate,
        territory::routes::reload,
        agencies::routes::list_agencies,
        agencies::routes::get_agency,
        agencies::routes::create_agency,
        agencies::routes::update_agency,
        vocabularies::get_vocabularies,
        identifications::routes::create_identification,
        identifications::routes::list_identifications,
        identifications::routes::identifications_geojson,
        identifications::routes::identifications_grid,
        identifications::routes::get_identification,
        profiles::routes::identification_candidates,
        profiles::routes::link_identification,
        profiles::routes::unlink_identification,
        profiles::routes::count_identifications,
        profiles::routes::list_profiles,
        profiles::routes::get_profile,
        profiles::routes::update_profile,
        profiles::routes::profile_history,
        profiles::routes::merge_profiles,
        profiles::routes::unmerge_profiles,
        rota::routes::list_schedules,
        rota::routes::create_schedule,
        rota::routes::get_schedule,
        rota::routes::update_schedule,
        rota::routes::schedule_on_call,
        rota::routes::schedule_shifts,
        rota::routes::schedule_gaps,
        rota::routes::list_overrides,
        rota::routes::create_override,
        rota::routes::cancel_override,
        rota::routes::list_swaps,
        rota::routes::create_swap,
        rota::routes::take_swap,
        rota::routes::approve_swap,
        rota::routes::decline_swap,
        rota::routes::cancel_swap,
        rota::routes::create_schedule_feed,
        rota::routes::list_schedule_feeds,
        rota::routes::create_my_feed,
        rota::routes::list_my_feeds,
        rota::routes::revoke_feed,
        rota::routes::calendar_feed,
        rota::routes::rota_csv,
        rota::routes::on_call,
        alerts::routes::create_alert,
        alerts::routes::list_alerts,
        alerts::routes::get_alert,
        alerts::routes::alert_timeline,
        alerts::routes::acknowledge_alert,
        alerts::routes::resolve_alert,
        alerts::routes::cancel_alert,
        alerts::routes::get_escalation_policy,
        alerts::routes::put_escalation_policy,
        alerts::routes::register_device,
        alerts::routes::list_devices,
        alerts::routes::remove_device,
        alerts::routes::get_notification_rules,
        alerts::routes::put_notification_rules,
        alerts::routes::create_webhook_endpoint,
        alerts::routes::list_webhook_endpoints,
        alerts::routes::deactivate_webhook_endpoint,
        alerts::routes::agency_readiness,
        alerts::routes::municipality_readiness,
        referrals::routes::create_referral,
        referrals::routes::list_referrals,
        referrals::routes::suggest_route,
        referrals::routes::deadline_statistics,
        referrals::routes::get_referral,
        referrals::routes::referral_timeline,
        referrals::routes::comment_referral,
        referrals::routes::acknowledge_referral,
        referrals::routes::accept_referral,
        referrals::routes::decline_referral,
        referrals::routes::start_referral,
        referrals::routes::close_referral,
        referrals::routes::cancel_referral,
        referrals::routes::forward_referral,
        referrals::routes::list_routing_rules,
        referrals::routes::create_routing_rule,
        referrals::routes::replace_routing_rule,
        referrals::routes::delete_routing_rule,
        referrals::routes::get_deadline_policy,
        referrals::routes::put_deadline_policy,
        referrals::routes::put_occupancy,
        hotspots::routes::list_hotspots,
        hotspots::routes::hotspots_geojson,
        hotspots::routes::create_hotspot,
        hotspots::routes::get_hotspot,
        hotspots::routes::replace_hotspot,
        hotspots::routes::suggest_hotspots,
        rounds::routes::list_teams,
        rounds::routes::create_team,
        rounds::routes::get_team,
        rounds::routes::replace_team,
        rounds::routes::list_rounds,
        rounds::routes::create_round,
        rounds::routes::get_round,
        rounds::routes::update_round,
        rounds::routes::cancel_round,
        rounds::routes::check_in,
        rounds::routes::check_out,
        rounds::routes::arrive,
        rounds::routes::leave,
        rounds::routes::create_series,
        rounds::routes::get_series,
        rounds::routes::replace_series,
        rounds::routes::my_rounds,
        rounds::routes::get_coverage,
        rounds::routes::get_planning_policy,
        rounds::routes::put_planning_policy,
        ops::healthz,
        ops::readyz,
        ops::metrics,
    ),
    components(schemas(terren_contract::problem::Problem, terren_contract::problem::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Logging in, tokens and the signed-in person"),
        (name = "users", description = "Administration of accounts"),
        (name = "reference", description = "Areas, vocabularies"),
        (name = "agencies", description = "The directory of agencies"),
        (name = "identifications", description = "Sightings recorded in the field"),
        (name = "child profiles", description = "The same child across sightings: candidates, links, merges, history"),
        (name = "rotas", description = "Duty rotas: who is on duty when, overrides, swaps, calendars"),
        (name = "alerts", description = "Alerts, escalation, and how people are reached"),
        (name = "referrals", description = "Referrals to the unit that must act: routing, consent, deadlines, outcomes"),
        (name = "rounds", description = "Hotspots, teams, field rounds, check-in from the field, coverage"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
            );
        }
    }
}

/// The document as committed in `mobile-contract/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

pub fn to_pretty_json() -> anyhow::Result<String> {
    Ok(format!("{}\n", document().to_pretty_json()?))
}
