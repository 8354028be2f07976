//! The writes a phone may upload in one batch (`POST /api/v1/sync/batch`), each as the batch
//! operation of the walk's request: the walk sends both and holds the operation's result to the
//! same line of the table.

use serde_json::{Value, json};

/// The batch operation doing what `method path` with `body` does, or `None` when the batch has no
/// such operation.
pub(super) fn twin(method: super::Method, path: &str, key: &str, body: &Value) -> Option<Value> {
    if !matches!(method, super::Method::Post) {
        return None;
    }
    let segments: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    let operation = match segments.as_slice() {
        ["identifications"] => json!({ "type": "record_sighting", "body": body }),
        ["identifications", id, "link"] => json!({ "type": "link_sighting", "identification_id": id, "body": body }),
        ["referrals"] => json!({ "type": "send_referral", "body": body }),
        ["referrals", id, "comments"] => json!({ "type": "comment_referral", "referral_id": id, "body": body }),
        ["alerts"] => json!({ "type": "raise_alert", "body": body }),
        ["alerts", id, "acknowledge"] => json!({ "type": "acknowledge_alert", "alert_id": id, "body": body }),
        ["rounds", id, "check-in"] => json!({ "type": "check_in", "round_id": id, "body": body }),
        ["rounds", id, "check-out"] => json!({ "type": "check_out", "round_id": id, "body": body }),
        ["rounds", id, "stops", position, visit @ ("arrive" | "leave")] => json!({
            "type": if *visit == "arrive" { "arrive_at_stop" } else { "leave_stop" },
            "round_id": id, "position": position.parse::<i32>().ok()?, "body": body,
        }),
        _ => return None,
    };
    let mut operation = operation;
    operation["key"] = json!(key);
    Some(json!({ "operations": [operation] }))
}
