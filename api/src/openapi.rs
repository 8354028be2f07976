//! The published contract: OpenAPI 3.1 generated from the handlers and wire types.
//!
//! Each capability lists its own operations (`routes::…Api`); this module merges them and declares
//! what holds for every operation once:
//! - bearer security for the whole document (public operations say `security(())`);
//! - every error response (4xx and 5xx) without a body of its own is a problem document
//!   (`application/problem+json`, the `Problem` schema), so handlers name only status and meaning;
//! - path parameters are the structs in `crate::http::paths`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, PathItem, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::{
    accounts, agencies, alerts, auth, hotspots, identifications, lifeline, ops, profiles, referrals, rota, rounds,
    sync, territory, vocabularies,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Terren API",
        description = "Backend for Albania's street-outreach teams, mobile service units and 24/7 duty staff. \
Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`; titles follow \
`Accept-Language` (`sq` default, `en`). Times are RFC 3339 in UTC."
    ),
    components(schemas(terren_contract::problem::Problem, terren_contract::problem::FieldError)),
    security(("bearer" = [])),
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
        (name = "sync", description = "A phone's working set, then only what changed in it"),
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

/// The media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Gives every error response that declares no body the problem body.
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                for (status, response) in &mut operation.responses.responses {
                    let RefOr::T(response) = response else { continue };
                    if status.starts_with(['4', '5']) && response.content.is_empty() {
                        let problem = Content::new(Some(Ref::from_schema_name("Problem")));
                        response.content.insert(PROBLEM_CONTENT_TYPE.to_owned(), RefOr::T(problem));
                    }
                }
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Every capability's operations, in the order the router mounts them.
fn capabilities() -> [utoipa::openapi::OpenApi; 15] {
    [
        auth::routes::AuthApi::openapi(),
        accounts::routes::AccountsApi::openapi(),
        territory::routes::TerritoryApi::openapi(),
        agencies::routes::AgenciesApi::openapi(),
        vocabularies::VocabulariesApi::openapi(),
        identifications::routes::IdentificationsApi::openapi(),
        profiles::routes::ProfilesApi::openapi(),
        rota::routes::RotaApi::openapi(),
        alerts::routes::AlertsApi::openapi(),
        referrals::routes::ReferralsApi::openapi(),
        hotspots::routes::HotspotsApi::openapi(),
        rounds::routes::RoundsApi::openapi(),
        sync::routes::SyncApi::openapi(),
        lifeline::routes::LifelineApi::openapi(),
        ops::OpsApi::openapi(),
    ]
}

/// The document as committed in `mobile-contract/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for capability in capabilities() {
        doc.merge(capability);
    }
    ProblemResponses.modify(&mut doc);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

pub fn to_pretty_json() -> anyhow::Result<String> {
    Ok(format!("{}\n", document().to_pretty_json()?))
}
