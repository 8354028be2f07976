//! What the FCM tests share: a notifier whose FCM and token endpoint are a mock server, and that
//! server's answers.

use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

use crate::notify::testing::{self, clock, service_account_file};
use crate::notify::{Address, FcmConfig, Notifier, NotifyConfig};

pub(super) const SEND_PATH: &str = "/v1/projects/terren-test/messages:send";
pub(super) const DEVICE: &str = "fcm-token-of-the-duty-phone";

pub(super) struct Fixture {
    pub(super) server: MockServer,
    pub(super) notifier: Notifier,
    pub(super) clock: crate::clock::ManualClock,
    _dir: tempfile::TempDir,
}

pub(super) async fn fixture() -> Fixture {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let account = service_account_file(dir.path(), &format!("{}/token", server.uri()));
    let cfg = NotifyConfig {
        fcm: Some(FcmConfig { service_account_file: account, endpoint: Some(server.uri()) }),
        ..testing::config()
    };
    let (manual, shared) = clock();
    let notifier = Notifier::from_config(&cfg, shared).unwrap();
    Fixture { server, notifier, clock: manual, _dir: dir }
}

pub(super) fn token_answer(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
}

pub(super) fn sent(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "name": name }))
}

pub(super) fn fcm_error(status: u16, grpc: &str, error_code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {
        "code": status, "message": "refused", "status": grpc,
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}]
    }}))
}

pub(super) fn push() -> Address {
    Address::Push { token: DEVICE.into() }
}

pub(super) fn form(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap()
}
