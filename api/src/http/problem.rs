//! RFC 9457 problem details for every error, with stable codes and titles in Albanian and English.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use terren_contract::problem::FieldErrorCode;
use terren_contract::problem::{FieldError, Problem};

use super::lang::Lang;

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:literal, $en:literal, $sq:literal),)*) => {
        /// Every error the API can return. The code string is part of the contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            pub fn parse(code: &str) -> Option<ErrorCode> {
                ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
            }

            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => match StatusCode::from_u16($status) {
                        Ok(status) => status,
                        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
                    },)*
                }
            }

            pub fn title(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((ErrorCode::$variant, Lang::En) => $en,
                      (ErrorCode::$variant, Lang::Sq) => $sq,)*
                }
            }
        }
    };
}

error_codes! {
    BadRequest => ("bad_request", 400, "Bad request", "Kërkesë e pasaktë"),
    IdempotencyKeyRequired => ("idempotency_key_required", 400, "An Idempotency-Key header is required", "Kërkohet koka Idempotency-Key"),
    MalformedJson => ("malformed_json", 400, "Malformed JSON", "JSON i pasaktë"),
    SyncCursorInvalid => ("sync_cursor_invalid", 400, "Not a sync cursor of this server", "Nuk është kursor sinkronizimi i këtij shërbimi"),
    InvalidQuery => ("invalid_query", 400, "Invalid query parameters", "Parametra të pasaktë në kërkesë"),
    Unauthenticated => ("unauthenticated", 401, "Authentication required", "Kërkohet identifikimi"),
    InvalidCredentials => ("invalid_credentials", 401, "Wrong username or password", "Emri i përdoruesit ose fjalëkalimi është i gabuar"),
    InvalidToken => ("invalid_token", 401, "Invalid or expired token", "Token i pavlefshëm ose i skaduar"),
    RefreshTokenReused => ("refresh_token_reused", 401, "Refresh token used twice: the session has ended", "Token-i i rifreskimit u përdor dy herë: seanca u mbyll"),
    Forbidden => ("forbidden", 403, "Not permitted", "Nuk keni leje për këtë veprim"),
    NotMunicipalAuthority => ("not_municipal_authority", 403, "Only the municipality's child-protection administration may change this", "Këtë e ndryshon vetëm administrata e mbrojtjes së fëmijës e bashkisë"),
    NotCaseWorker => ("not_case_worker", 403, "Only those who work the case may change the child's record", "Të dhënat e fëmijës i ndryshojnë vetëm ata që punojnë me rastin"),
    NotChildProtectionUnit => ("not_child_protection_unit", 403, "Protection cases are worked by the municipality's child-protection unit", "Rastet e mbrojtjes i trajton njësia e mbrojtjes së fëmijëve e bashkisë"),
    AreaOutsideScope => ("area_outside_scope", 403, "This area is outside the areas your agency serves", "Kjo zonë është jashtë zonave që mbulon institucioni juaj"),
    NotYourAgency => ("not_your_agency", 403, "This belongs to another agency", "Kjo i përket një institucioni tjetër"),
    NotOnTeam => ("not_on_team", 403, "You are not on this round's team", "Nuk jeni në ekipin e kësaj daljeje"),
    PasswordChangeRequired => ("password_change_required", 403, "Change your password first", "Ndryshoni fillimisht fjalëkalimin"),
    SmsSignatureInvalid => ("sms_signature_invalid", 403, "The SMS gateway's signature does not verify", "Nënshkrimi i portës së SMS-ve nuk është i vlefshëm"),
    SyncCursorNotYours => ("sync_cursor_not_yours", 403, "This sync cursor belongs to someone else: start a full sync", "Ky kursor sinkronizimi i përket dikujt tjetër: filloni një sinkronizim të plotë"),
    NotFound => ("not_found", 404, "Not found", "Nuk u gjet"),
    SmsLifelineOff => ("sms_lifeline_off", 404, "The SMS lifeline is not configured on this server", "Linja e emergjencave me SMS nuk është konfiguruar në këtë shërbim"),
    MethodNotAllowed => ("method_not_allowed", 405, "Method not allowed", "Metoda nuk lejohet"),
    AlreadyExists => ("already_exists", 409, "Already exists", "Ekziston tashmë"),
    Conflict => ("conflict", 409, "Conflict with the current state", "Konflikt me gjendjen aktuale"),
    AlreadyLinked => ("already_linked", 409, "The sighting is linked to another profile", "Identifikimi është lidhur tashmë me një profil tjetër"),
    AlertAlreadyAcknowledged => ("alert_already_acknowledged", 409, "Someone else acknowledged the alert", "Alarmin e ka konfirmuar tashmë dikush tjetër"),
    AlertClosed => ("alert_closed", 409, "The alert is already resolved or cancelled", "Alarmi është zgjidhur ose anuluar tashmë"),
    RoundConflict => ("round_conflict", 409, "A team member is busy at that time", "Një anëtar i ekipit është i zënë në atë kohë"),
    ShelterFull => ("shelter_full", 409, "The shelter has no free place", "Strehëza nuk ka vend të lirë"),
    CaseAlreadyOpen => ("case_already_open", 409, "The child already has an open protection case", "Fëmija ka tashmë një rast mbrojtjeje të hapur"),
    CaseClosed => ("case_closed", 409, "The protection case is closed", "Rasti i mbrojtjes është mbyllur"),
    ReferralEnded => ("referral_ended", 409, "The referral has already ended", "Referimi ka përfunduar tashmë"),
    InvalidTransition => ("invalid_transition", 409, "Not possible in the referral's current state", "Ky hap nuk është i mundur në gjendjen aktuale të referimit"),
    IdempotencyRequestInFlight => ("idempotency_request_in_flight", 409, "The same request is still being processed", "E njëjta kërkesë është ende në përpunim"),
    RequestTimeout => ("request_timeout", 408, "The request did not arrive in time", "Kërkesa nuk mbërriti në kohë"),
    SyncCursorExpired => ("sync_cursor_expired", 410, "This sync cursor is too old: start a full sync", "Ky kursor sinkronizimi është shumë i vjetër: filloni një sinkronizim të plotë"),
    CalendarFeedRevoked => ("calendar_feed_revoked", 410, "This calendar link was revoked", "Kjo lidhje kalendari është revokuar"),
    VersionMismatch => ("version_mismatch", 412, "The record changed since you read it", "Të dhënat ndryshuan që kur i lexuat"),
    PayloadTooLarge => ("payload_too_large", 413, "Request body too large", "Kërkesa është shumë e madhe"),
    BatchTooLarge => ("batch_too_large", 413, "Not applied: more operations than one batch takes; send it again in the next batch", "Nuk u zbatua: më shumë veprime se sa merr një paketë; dërgojeni në paketën tjetër"),
    UnsupportedMediaType => ("unsupported_media_type", 415, "Unsupported content type", "Lloji i përmbajtjes nuk mbështetet"),
    AreaWithoutOrgUnit => ("area_without_org_unit", 422, "The area has no DHIS2 organisation unit in the mapping", "Zona nuk ka njësi organizative DHIS2 në tabelën e përputhjeve"),
    ValidationFailed => ("validation_failed", 422, "The request is not valid", "Të dhënat e kërkesës nuk janë të vlefshme"),
    BatchOutOfOrder => ("batch_out_of_order", 422, "Refers to a record made later in the batch", "I referohet një regjistrimi që bëhet më vonë në paketë"),
    IdempotencyKeyReused => ("idempotency_key_reused", 422, "The Idempotency-Key was used for another request", "Çelësi Idempotency-Key u përdor për një kërkesë tjetër"),
    BatchDependencyFailed => ("batch_dependency_failed", 424, "Not applied: the operation making the record it refers to failed", "Nuk u zbatua: dështoi veprimi që krijonte regjistrimin të cilit i referohet"),
    TooManyAttempts => ("too_many_attempts", 429, "Too many attempts; try again later", "Shumë përpjekje; provoni më vonë"),
    Internal => ("internal_error", 500, "Internal error", "Gabim i brendshëm"),
    Unavailable => ("service_unavailable", 503, "Service temporarily unavailable", "Shërbimi nuk është i disponueshëm përkohësisht"),
}

/// An error on its way to the client. Causes of 5xx stay in the log.
#[derive(Debug, thiserror::Error)]
#[error("{code:?}: {detail:?}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
    /// A body to send instead of the problem, e.g. the current record with 412.
    pub current: Option<serde_json::Value>,
    #[source]
    pub cause: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode) -> ApiError {
        ApiError { code, detail: None, errors: Vec::new(), headers: Vec::new(), current: None, cause: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(ErrorCode::NotFound).with_detail(format!("{what} not found"))
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Forbidden).with_detail(detail)
    }

    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Conflict).with_detail(detail)
    }

    /// A 422 naming one field.
    pub fn field(field: impl Into<String>, code: FieldErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::fields(vec![FieldError { field: field.into(), code, message: message.into() }])
    }

    pub fn fields(errors: Vec<FieldError>) -> ApiError {
        ApiError { errors, ..ApiError::new(ErrorCode::ValidationFailed) }
    }

    pub fn version_mismatch(current: serde_json::Value) -> ApiError {
        ApiError { current: Some(current), ..ApiError::new(ErrorCode::VersionMismatch) }
    }

    /// A server error; one caused by the database being unreachable or out of space is a 503.
    pub fn internal(cause: impl Into<anyhow::Error>) -> ApiError {
        let cause = cause.into();
        let code = if super::outage::is_outage(&cause) { ErrorCode::Unavailable } else { ErrorCode::Internal };
        ApiError { cause: Some(cause), ..ApiError::new(code) }
    }

    pub fn to_problem(&self, lang: Lang) -> Problem {
        Problem {
            type_uri: format!("urn:terren:problem:{}", self.code.as_str()),
            title: self.code.title(lang).to_owned(),
            status: self.code.status().as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
            errors: self.errors.clone(),
        }
    }

    fn render(&self, lang: Lang) -> HttpResponse {
        let mut builder = HttpResponse::build(self.code.status());
        if let Some(challenge) = super::outage::challenge(self.code) {
            builder.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if self.code == ErrorCode::Unavailable {
            builder.insert_header((header::RETRY_AFTER, "5"));
        }
        for (name, value) in &self.headers {
            builder.insert_header((name.clone(), value.clone()));
        }
        match &self.current {
            Some(current) => builder.json(current),
            None => builder
                .content_type("application/problem+json")
                .body(serde_json::to_string(&self.to_problem(lang)).unwrap_or_default()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.render(Lang::default())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> ApiError {
        match error {
            diesel::result::Error::NotFound => ApiError::new(ErrorCode::NotFound),
            // Two requests creating the same thing at once: the loser learns it exists.
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, info) => {
                ApiError::new(ErrorCode::AlreadyExists).with_detail(match info.constraint_name() {
                    Some(constraint) => format!("a record with the same key exists ({constraint})"),
                    None => "a record with the same key exists".to_owned(),
                })
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> ApiError {
        ApiError { cause: Some(error.into()), ..ApiError::new(ErrorCode::Unavailable) }
            .with_detail("the database is not reachable")
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> ApiError {
        ApiError::internal(anyhow::anyhow!("blocking task failed: {error}"))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> ApiError {
        ApiError::internal(error)
    }
}

/// The error a bare status stands for, when the response did not come from an `ApiError`
/// (actix's own 404, 405, 413, 415 and friends).
fn code_for_status(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        408 => ErrorCode::RequestTimeout,
        409 => ErrorCode::Conflict,
        412 => ErrorCode::VersionMismatch,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::ValidationFailed,
        429 => ErrorCode::TooManyAttempts,
        503 => ErrorCode::Unavailable,
        400..=499 => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    }
}

/// Renders every error response as problem+json in the caller's language and logs the cause of
/// server errors. Runs outermost, so it also sees unknown routes and extractor failures.
pub async fn problem_details(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Routing needs sole ownership of the request, so read what is needed before calling on.
    let lang = Lang::from_request(req.request());
    let response = match next.call(req).await {
        Ok(response) => response.map_into_boxed_body(),
        // Handlers and extractors turn their errors into responses; only middleware failures
        // arrive here, and they are rendered by `ApiError::error_response`.
        Err(error) if error.as_error::<ApiError>().is_some() => return Err(error),
        Err(error) => {
            tracing::error!(cause = %error, "middleware failed");
            return Err(ApiError::new(ErrorCode::Internal).into());
        }
    };
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(response);
    }
    let (request, original) = response.into_parts();
    let rendered = match original.error().and_then(|e| e.as_error::<ApiError>()) {
        Some(api_error) => {
            log_cause(&request, api_error.code, api_error.cause.as_ref().map(|c| format!("{c:#}")));
            api_error.render(lang)
        }
        // Already a problem document (a replayed answer, say): keep it.
        None if original.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == "application/problem+json") => {
            original
        }
        None => {
            let code = code_for_status(status);
            let detail = original.error().map(|e| e.to_string()).filter(|d| !d.is_empty());
            log_cause(&request, code, detail.clone());
            let mut fallback = ApiError::new(code);
            if status.is_client_error() {
                fallback.detail = detail;
            }
            let mut rendered = fallback.render(lang);
            copy_headers(original.headers(), rendered.headers_mut());
            rendered
        }
    };
    Ok(ServiceResponse::new(request, rendered))
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            to.insert(name.clone(), value.clone());
        }
    }
}

fn log_cause(request: &HttpRequest, code: ErrorCode, cause: Option<String>) {
    if code.status().is_server_error() {
        let request_id = request.extensions().get::<crate::ops::request_context::RequestId>().map(|id| id.0.clone());
        tracing::error!(
            method = %request.method(),
            path = %request.path(),
            request_id = %request_id.as_deref().unwrap_or("-"),
            code = code.as_str(),
            cause = cause.as_deref().unwrap_or("-"),
            "request failed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_with_both_titles() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert!(!code.title(Lang::Sq).is_empty() && !code.title(Lang::En).is_empty());
            assert_ne!(code.title(Lang::Sq), code.title(Lang::En), "{s} lacks an Albanian title");
        }
    }
}
