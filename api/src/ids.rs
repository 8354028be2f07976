//! Record ids: stored as text, UUIDs on the wire.

use uuid::Uuid;

use crate::http::problem::{ApiError, ApiResult};

pub fn parse_uuid(id: &str) -> ApiResult<Uuid> {
    id.parse().map_err(|e| ApiError::internal(anyhow::anyhow!("stored id {id} is not a UUID: {e}")))
}
