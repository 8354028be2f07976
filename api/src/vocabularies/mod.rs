//! Coded lists (age bands, street situations, outcomes...) with Albanian and English labels.
//! They are data, so a municipality can add a code without a release.

use actix_web::http::header::{self, EntityTag, IfNoneMatch};
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use terren_contract::Permission;
use terren_contract::vocabularies::{Vocabularies, Vocabulary, VocabularyEntry};

use crate::access::AuthUser;
use crate::db::DbConnection;
use crate::db::schema::vocabulary_entries;
use crate::digest::hex;
use crate::http::{ApiResult, with_conn};
use crate::state::AppState;

pub mod codes;

pub use codes::{parse_wire_code, wire_code};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/vocabularies").route(web::get().to(get_vocabularies)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_vocabularies))]
pub struct VocabulariesApi;

pub fn load(conn: &mut DbConnection) -> QueryResult<Vocabularies> {
    let rows: Vec<(String, String, String, String, bool)> = vocabulary_entries::table
        .select((
            vocabulary_entries::vocabulary,
            vocabulary_entries::code,
            vocabulary_entries::label_sq,
            vocabulary_entries::label_en,
            vocabulary_entries::active,
        ))
        .order((
            vocabulary_entries::vocabulary.asc(),
            vocabulary_entries::sort_order.asc(),
            vocabulary_entries::code.asc(),
        ))
        .load(conn)?;
    let mut vocabularies: Vec<Vocabulary> = Vec::new();
    for (name, code, sq, en, active) in rows {
        if vocabularies.last().is_none_or(|v| v.name != name) {
            vocabularies.push(Vocabulary { name: name.clone(), entries: Vec::new() });
        }
        if let Some(current) = vocabularies.last_mut() {
            current.entries.push(VocabularyEntry { code, sq, en, active });
        }
    }
    Ok(Vocabularies { vocabularies })
}

/// True when `code` is an active entry of `vocabulary`.
pub fn is_active_code(conn: &mut DbConnection, vocabulary: &str, code: &str) -> QueryResult<bool> {
    let count: i64 = vocabulary_entries::table
        .filter(vocabulary_entries::vocabulary.eq(vocabulary))
        .filter(vocabulary_entries::code.eq(code))
        .filter(vocabulary_entries::active.eq(true))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Every vocabulary. Send the `ETag` back as `If-None-Match` to get 304 when nothing changed.
#[utoipa::path(
    get, path = "/api/v1/vocabularies", tag = "reference",
    responses(
        (status = 200, description = "All vocabularies", body = Vocabularies,
            headers(("ETag" = String, description = "Changes whenever any entry changes"))),
        (status = 304, description = "Not modified since the ETag you sent"),
    )
)]
pub async fn get_vocabularies(req: HttpRequest, user: AuthUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    user.require(Permission::ReferenceRead)?;
    let vocabularies = with_conn(&state, |conn| Ok(load(conn)?)).await?;
    let body = serde_json::to_vec(&vocabularies).map_err(anyhow::Error::from)?;
    let etag = EntityTag::new_strong(hex(&Sha256::digest(&body))[..32].to_owned());
    let cache = (header::CACHE_CONTROL, "private, max-age=300, must-revalidate");
    let unchanged = match <IfNoneMatch as header::Header>::parse(&req) {
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&etag)),
        Ok(IfNoneMatch::Any) => true,
        Err(_) => false,
    };
    if unchanged {
        return Ok(HttpResponse::NotModified().insert_header(header::ETag(etag)).insert_header(cache).finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag))
        .insert_header(cache)
        .content_type("application/json")
        .body(body))
}
