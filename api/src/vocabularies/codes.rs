//! Contract enums as they are sent and stored: a leaf that rules (`access`) and stores use
//! without reaching the vocabularies' handler.

/// The code of a contract enum as it is sent and stored (`snake_case`, from its serde name).
pub fn wire_code<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A stored code read back into its contract enum; an unknown code is an internal error.
pub fn parse_wire_code<T: serde::de::DeserializeOwned>(code: &str) -> crate::http::ApiResult<T> {
    serde_json::from_value(serde_json::Value::from(code))
        .map_err(|e| crate::http::ApiError::internal(anyhow::anyhow!("stored code {code}: {e}")))
}
