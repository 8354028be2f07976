//! Contract enums as they are sent and stored: a leaf that rules (`access`) and stores use
//! without reaching the vocabularies' handler.

/// The code of a contract enum as it is sent and stored (`snake_case`, from its serde name).
pub fn wire_code<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A stored code read back into its contract enum; an unknown code is an internal error naming the
/// code and the enum (a row no version of the server could have written, or one written by a newer
/// version).
pub fn parse_wire_code<T: serde::de::DeserializeOwned>(code: &str) -> crate::http::ApiResult<T> {
    serde_json::from_value(serde_json::Value::from(code)).map_err(|e| {
        let name = std::any::type_name::<T>().rsplit("::").next().unwrap_or_default();
        crate::http::ApiError::internal(anyhow::anyhow!("stored code `{code}` is not a value of {name}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use terren_contract::alerts::AlertEventKind;

    use super::*;
    use crate::http::ErrorCode;

    #[test]
    fn a_stored_code_reads_back_and_an_unknown_one_is_named() {
        let kind: AlertEventKind = parse_wire_code(&wire_code(AlertEventKind::StepSkipped)).unwrap();
        assert_eq!(kind, AlertEventKind::StepSkipped);
        let error = parse_wire_code::<AlertEventKind>("escalated").unwrap_err();
        assert_eq!(error.code, ErrorCode::Internal);
        let cause = error.cause.unwrap().to_string();
        assert!(
            cause.starts_with("stored code `escalated` is not a value of AlertEventKind: unknown variant"),
            "{cause}"
        );
    }
}
