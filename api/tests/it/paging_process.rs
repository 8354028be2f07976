//! The real `terren` process killed (SIGKILL) or stopped (SIGTERM) while it is sending a page:
//! the next process resumes paging within seconds of being ready, and the timeline shows the
//! interrupted send and the new one.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::ScratchDatabase;

const DESK: &str = "+355690001111";
const ACCOUNT: &str = "AC00000000000000000000000000000001";

/// A Twilio-shaped SMS provider on loopback: the first message hangs unanswered (as a provider
/// does in an outage); later ones are accepted. Counts what it receives.
struct Provider {
    url: String,
    received: Arc<AtomicUsize>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Provider {
    fn start() -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (counter, keep) = (received.clone(), held.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if read_request(&mut stream).is_none() {
                    continue;
                }
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    keep.lock().unwrap().push(stream);
                } else {
                    let body = r#"{"sid":"SM0002","status":"queued"}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
        });
        Provider { url, received, held }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.held.lock().unwrap().clear();
    }
}

/// Reads one HTTP request (headers and a Content-Length body); `None` if the peer went away.
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).ok()?;
                if n == 0 {
                    return None;
                }
                data.extend_from_slice(&buf[..n]);
            }
            return Some(data);
        }
    }
}

/// One HTTP/1.1 exchange with the service: (status, JSON body).
fn call(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("service reachable");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status: u16 = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = text.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, json)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn terren(data_dir: &Path, database: &ScratchDatabase, provider: &Provider) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_terren"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERREN_DATA_DIR", data_dir)
        .env("TERREN_AUTH_ARGON2_MEMORY_KIB", "64")
        .env("TERREN_AUTH_ARGON2_ITERATIONS", "1")
        .env("TERREN_LOG_FILTER", "warn")
        .env("TERREN_NOTIFY_MODE", "live")
        .env("TERREN_NOTIFY_TIMEOUT_MS", "60000")
        .env("TERREN_NOTIFY_SEND_DEADLINE_MS", "60000")
        .env("TERREN_NOTIFY_SMS_BASE_URL", &provider.url)
        .env("TERREN_NOTIFY_SMS_ACCOUNT_SID", ACCOUNT)
        .env("TERREN_NOTIFY_SMS_AUTH_TOKEN", "provider-secret")
        .env("TERREN_NOTIFY_SMS_MESSAGING_SERVICE_SID", "MGdesk")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(url) = &database.url {
        command.env("TERREN_DATABASE_URL", url);
    }
    command
}

/// Starts `terren serve` and waits until it is ready; returns the process and when it was ready.
fn serve(data_dir: &Path, database: &ScratchDatabase, provider: &Provider, port: u16) -> (Child, Instant) {
    let mut child = terren(data_dir, database, provider)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .spawn()
        .expect("terren starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && call(port, "GET", "/readyz", None, &[], None).0 == 200 {
            return (child, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("terren did not become ready");
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

enum Stop {
    Kill,
    Terminate,
}

fn paging_resumes_after(stop: Stop) {
    let dir = tempfile::tempdir().unwrap();
    let database = ScratchDatabase::new();
    let provider = Provider::start();
    let mut create = terren(dir.path(), &database, &provider)
        .args([
            "user",
            "create",
            "--username",
            "desk.coord",
            "--display-name",
            "Koordinatore",
            "--agency",
            "AL224-QKT",
            "--role",
            "coordinator",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"a long enough password\n").unwrap();
    assert!(create.wait().unwrap().success(), "user create");

    let port = free_port();
    let (mut first, _) = serve(dir.path(), &database, &provider, port);
    let login = json!({ "username": "desk.coord", "password": "a long enough password", "device_id": "desk" });
    let (status, session) = call(port, "POST", "/api/v1/auth/login", None, &[], Some(&login));
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (_, me) = call(port, "GET", "/api/v1/me", Some(&token), &[], None);
    let agency = me["agency"]["id"].as_str().unwrap().to_owned();
    let policy = json!({ "policy": { "steps": [{ "targets": [{ "kind": "contact", "name": "Desk", "phone": DESK }], "wait_minutes": 30 }] } });
    let (status, body) =
        call(port, "PUT", &format!("/api/v1/agencies/{agency}/escalation-policy"), Some(&token), &[], Some(&policy));
    assert_eq!(status, 200, "{body}");
    let alert = json!({ "severity": "emergency", "title": "Fëmijë vetëm natën" });
    let (status, raised) =
        call(port, "POST", "/api/v1/alerts", Some(&token), &[("Idempotency-Key", "k-1")], Some(&alert));
    assert_eq!(status, 201, "{raised}");
    let id = raised["id"].as_str().unwrap().to_owned();

    // The page reaches the provider, which does not answer: the process stops mid-send.
    wait_for("the first page", Duration::from_secs(10), || provider.received() == 1);
    match stop {
        Stop::Kill => first.kill().unwrap(),
        Stop::Terminate => {
            let status = Command::new("kill").args(["-TERM", &first.id().to_string()]).status().unwrap();
            assert!(status.success());
        }
    }
    first.wait().unwrap();

    let (mut second, ready) = serve(dir.path(), &database, &provider, port);
    wait_for("the page sent again", Duration::from_secs(30), || provider.received() == 2);
    let resumed = ready.elapsed();
    eprintln!("paging resumed {} ms after the new process was ready", resumed.as_millis());
    let token = call(port, "POST", "/api/v1/auth/login", None, &[], Some(&login)).1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut sends = Vec::new();
    wait_for("the second send recorded", Duration::from_secs(10), || {
        let (_, timeline) = call(port, "GET", &format!("/api/v1/alerts/{id}/timeline"), Some(&token), &[], None);
        sends = timeline
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "notification")
            .map(|e| e["notification"].clone())
            .collect();
        sends.len() == 2 && sends[1]["outcome"] == "delivered"
    });
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(resumed <= Duration::from_secs(5), "paging resumed {resumed:?} after the new process was ready");
    assert_eq!((sends[0]["attempt"].as_i64(), sends[0]["outcome"].as_str()), (Some(1), Some("interrupted")));
    assert_eq!(sends[1]["attempt"], 2);
}

#[test]
fn paging_resumes_within_seconds_after_a_kill_during_a_send() {
    paging_resumes_after(Stop::Kill);
}

#[test]
fn paging_resumes_at_once_after_a_graceful_stop_during_a_send() {
    paging_resumes_after(Stop::Terminate);
}
