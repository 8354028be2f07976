//! The published contract: OpenAPI 3.1 generated from the handlers and wire types.
//!
//! Each capability lists its own operations (`routes::…Api`); this module merges them and declares
//! what holds for every operation once:
//! - bearer security for the whole document (public operations say `security(())`);
//! - every error response (4xx and 5xx) without a body of its own is a problem document
//!   (`application/problem+json`, the `Problem` schema), so handlers name only status and meaning;
//! - every operation that needs a token declares 401, and every operation a `default` problem
//!   for whatever else may go wrong (the `ErrorCode` schema lists every `code`);
//! - path parameters are the structs in `crate::http::paths`.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, PathItem, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

use crate::http::lang::Lang;
use crate::{
    accounts, agencies, alerts, auth, cases, hotspots, identifications, lifeline, ops, profiles, referrals, reports,
    rota, rounds, sync, territory, vocabularies,
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
        (name = "cases", description = "Protection cases: what the national reports count about a child in case management"),
        (name = "rotas", description = "Duty rotas: who is on duty when, overrides, swaps, calendars"),
        (name = "alerts", description = "Alerts, escalation, and how people are reached"),
        (name = "referrals", description = "Referrals to the unit that must act: routing, consent, deadlines, outcomes"),
        (name = "reports", description = "The reports the law asks for: tables for ASHDMF and the municipal plans"),
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

/// Gives every error response that declares no body the problem body, declares 401 where a token
/// is needed and a `default` problem everywhere, and lists the error codes.
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let problem = || Content::new(Some(Ref::from_schema_name("Problem")));
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let public = operation.security.as_ref().is_some_and(|required| {
                    required.iter().any(|requirement| requirement == &SecurityRequirement::default())
                });
                let responses = &mut operation.responses.responses;
                if !public {
                    responses.entry("401".to_owned()).or_insert_with(|| {
                        RefOr::T(Response::new(
                            "`unauthenticated` (no token) or `invalid_token` (expired, revoked, or its user \
                             disabled): sign in again",
                        ))
                    });
                }
                responses.entry("default".to_owned()).or_insert_with(|| {
                    RefOr::T(Response::new(
                        "Any other problem: malformed or invalid input, a server fault or an outage; `code` \
                         says which (see `ErrorCode`)",
                    ))
                });
                for (status, response) in responses.iter_mut() {
                    let RefOr::T(response) = response else { continue };
                    let error = status.starts_with(['4', '5']) || status == "default";
                    if error && response.content.is_empty() {
                        response.content.insert(PROBLEM_CONTENT_TYPE.to_owned(), RefOr::T(problem()));
                    }
                }
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            components.schemas.insert("ErrorCode".to_owned(), RefOr::T(error_code_schema()));
        }
    }
}

/// Every `code` a problem may carry, with its status and English title; new codes may be added.
fn error_code_schema() -> Schema {
    let codes = crate::http::ErrorCode::ALL;
    let listed: Vec<String> = codes
        .iter()
        .map(|code| format!("- `{}` ({}): {}", code.as_str(), code.status().as_u16(), code.title(Lang::En)))
        .collect();
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes.iter().map(|code| code.as_str())))
            .description(Some(format!(
                "The values of `Problem.code`. Switch on them; treat one you do not know by its status.\n\n{}",
                listed.join("\n")
            )))
            .build(),
    )
}

/// The limits of `#[validate(...)]` attributes and the example files, written into the schemas and
/// parameters they belong to (see `terren_contract::schema_rules` and `terren_contract::examples`).
struct ValidationRules;

impl Modify for ValidationRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            let mut schemas = Vec::new();
            <terren_contract::alerts::AlertWebhook as utoipa::ToSchema>::schemas(&mut schemas);
            components.schemas.extend(schemas);
            components.schemas.insert(
                "AlertWebhook".to_owned(),
                <terren_contract::alerts::AlertWebhook as utoipa::PartialSchema>::schema(),
            );
        }
        let outcome = terren_contract::schema_rules::apply_to_schemas(openapi)
            .and_then(|()| terren_contract::schema_rules::apply_to_parameters(openapi))
            .and_then(|()| terren_contract::unions::name_union_variants(openapi))
            .and_then(|()| terren_contract::examples::apply(openapi));
        // The contract's own source decides these; a rule that cannot be written is a bug the
        // test of the document catches, not something to serve half-applied.
        if let Err(problem) = outcome {
            panic!("the contract's rules do not fit the document: {problem}");
        }
    }
}

/// What Terren sends to the webhook endpoints an agency configures (`POST /api/v1/webhooks`).
fn webhooks() -> utoipa::openapi::Paths {
    use crate::notify::webhook::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{PathsBuilder, Required, ResponseBuilder};

    let header = |name: &str, description: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(description))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build()
    };
    let operation = OperationBuilder::new()
        .summary(Some("An alert's notification to a partner system"))
        .description(Some(
            "POSTed to the endpoint's `url` for every notification of an alert the endpoint is a \
             target of. Verify the signature over the raw body before parsing it, and refuse \
             timestamps far from your clock. Any 2xx acknowledges; other answers and timeouts are \
             retried with the same `X-Terren-Delivery`.",
        ))
        .tag("alerts")
        .parameter(header(DELIVERY_HEADER, "The delivery's id (the body's `id`); the same on every retry."))
        .parameter(header(TIMESTAMP_HEADER, "Unix seconds when this attempt was signed."))
        .parameter(header(
            SIGNATURE_HEADER,
            "`sha256=` and the lowercase hex HMAC-SHA256 of `\"<timestamp>.<raw body>\"`, keyed with the \
             endpoint's `secret`.",
        ))
        .request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", Content::new(Some(Ref::from_schema_name("AlertWebhook"))))
                .required(Some(Required::True))
                .build(),
        ))
        .response("2XX", ResponseBuilder::new().description("Received; not sent again"))
        .security(SecurityRequirement::default())
        .build();
    PathsBuilder::new().path("alert", PathItem::new(HttpMethod::Post, operation)).build()
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
fn capabilities() -> [utoipa::openapi::OpenApi; 18] {
    [
        auth::routes::AuthApi::openapi(),
        accounts::routes::AccountsApi::openapi(),
        territory::routes::TerritoryApi::openapi(),
        agencies::routes::AgenciesApi::openapi(),
        vocabularies::VocabulariesApi::openapi(),
        identifications::routes::IdentificationsApi::openapi(),
        profiles::routes::ProfilesApi::openapi(),
        cases::routes::CasesApi::openapi(),
        rota::routes::RotaApi::openapi(),
        alerts::routes::AlertsApi::openapi(),
        referrals::routes::ReferralsApi::openapi(),
        reports::routes::ReportsApi::openapi(),
        reports::export_routes::ExportsApi::openapi(),
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
    ValidationRules.modify(&mut doc);
    doc.webhooks = Some(webhooks());
    doc.info.version = terren_contract::VERSION.to_owned();
    doc
}

pub fn to_pretty_json() -> anyhow::Result<String> {
    Ok(format!("{}\n", document().to_pretty_json()?))
}
