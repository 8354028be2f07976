//! The routes the application serves and the operations the contract documents are the same set
//! (method + path template).
//!
//! Served routes are found twice: by walking each capability's `configure` (the
//! `web::resource("…")` and `.route(…)` calls, mounted where `app.rs` mounts them), and by asking the
//! running application which resource a path matches and whether a method is allowed there (405).
//! Only the documentation pages themselves are served without being documented.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use actix_web::dev::Service;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::test as actix_test;
use terren_api::app::build_app;

use crate::harness::TestApp;

/// A method (upper case) and a path template with `{name}` parameters.
type Operation = (String, String);

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Served on purpose without being part of the contract: the documentation itself.
const UNDOCUMENTED: [&str; 3] = ["/docs", "/docs/{_}", "/api/v1/openapi.json"];

const MATCHED: HeaderName = HeaderName::from_static("x-test-matched-pattern");

fn repo_api_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `{token:[A-Za-z0-9_-]+}` → `{token}`, as the contract writes path parameters.
fn normalize(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_regex = 0usize;
    let mut depth = 0usize;
    for c in template.chars() {
        match c {
            '{' => {
                depth += 1;
                if in_regex == 0 {
                    out.push(c);
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    in_regex = 0;
                    out.push(c);
                }
            }
            ':' if depth == 1 && in_regex == 0 => in_regex = 1,
            _ if in_regex > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

/// The operations the committed document describes.
fn documented() -> BTreeSet<Operation> {
    let doc = terren_api::openapi::document();
    let mut ops = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
            ("HEAD", &item.head),
            ("OPTIONS", &item.options),
            ("TRACE", &item.trace),
        ] {
            if op.is_some() {
                ops.insert((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

/// The text of `fn configure` in a source file.
fn configure_body(source: &str) -> &str {
    let start = source.find("pub fn configure(cfg: &mut web::ServiceConfig)").expect("a configure function");
    let end = source[start..].find("\n}\n").map_or(source.len(), |e| start + e);
    &source[start..end]
}

/// The routes one `configure` registers, as (method, template) under `prefix`.
fn routes_in(body: &str, prefix: &str) -> BTreeSet<Operation> {
    let mut ops = BTreeSet::new();
    // Each registration starts at a quoted path: `web::resource("…")` or `route("…", …)`.
    let mut rest = body;
    let mut registrations: Vec<(String, String)> = Vec::new();
    while let Some(at) =
        ["web::resource(\"", "route(\""].iter().filter_map(|p| rest.find(p).map(|i| (i, p.len()))).min()
    {
        let after = &rest[at.0 + at.1..];
        let close = after.find('"').expect("closing quote");
        let path = after[..close].to_owned();
        let tail = &after[close..];
        let next = ["web::resource(\"", "route(\""].iter().filter_map(|p| tail.find(p)).min().unwrap_or(tail.len());
        registrations.push((path, tail[..next].to_owned()));
        rest = &tail[next..];
    }
    for (path, chain) in registrations {
        for method in METHODS {
            if chain.contains(&format!("web::{}()", method.to_lowercase())) {
                ops.insert((method.to_owned(), normalize(&format!("{prefix}{path}"))));
            }
        }
    }
    ops
}

/// Walks `app.rs`: every `.configure(module::configure)`, under `/api/v1` when inside that scope.
fn served_by_source() -> BTreeSet<Operation> {
    let src = repo_api_src();
    let app = std::fs::read_to_string(src.join("app.rs")).expect("app.rs");
    let scope_at = app.find("web::scope(\"/api/v1\")").expect("the /api/v1 scope");
    let mut ops = BTreeSet::new();
    let mut from = 0;
    let mut found = 0;
    while let Some(i) = app[from..].find(".configure(") {
        let at = from + i;
        let inner = &app[at + ".configure(".len()..];
        let module = &inner[..inner.find(')').expect("closing paren")];
        from = at + 1;
        let Some(module) = module.strip_suffix("::configure") else { continue };
        let dir = src.join(module.replace("::", "/"));
        let file = if dir.is_dir() { dir.join("mod.rs") } else { dir.with_extension("rs") };
        let source = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let prefix = if at > scope_at { "/api/v1" } else { "" };
        ops.extend(routes_in(configure_body(&source), prefix));
        found += 1;
    }
    assert!(found >= 10, "found only {found} configure calls in app.rs");
    ops
}

/// Asks the running application, for each template, which methods it serves there.
async fn served_by_probe(app: &TestApp, templates: &BTreeSet<String>) -> (BTreeSet<Operation>, Vec<String>) {
    let service = actix_test::init_service(build_app(app.state.clone()).wrap_fn(|req, srv| {
        let pattern = req.match_pattern();
        let fut = srv.call(req);
        async move {
            let mut res = fut.await?;
            // A request no route took (a method a `cfg.route` does not guard for falls through
            // to the 404 default) leaves part of its path unmatched.
            if !res.request().match_info().unprocessed().is_empty() {
                return Ok(res);
            }
            if let Some(pattern) = pattern.and_then(|p| HeaderValue::from_str(&p).ok()) {
                res.headers_mut().insert(MATCHED, pattern);
            }
            Ok(res)
        }
    }))
    .await;
    let sample = "0b9d5f7e-3c51-4c0e-9d5e-2f4a3c9a1b10";
    let mut served = BTreeSet::new();
    let mut unmatched = Vec::new();
    for template in templates {
        let uri = instantiate(template, sample);
        for method in METHODS {
            let req = actix_test::TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).expect("method"))
                .uri(&uri)
                .peer_addr("127.0.0.1:50000".parse().expect("address"))
                .to_request();
            let res = actix_test::call_service(&service, req).await;
            let matched = res.headers().get(MATCHED).and_then(|v| v.to_str().ok()).map(normalize);
            if matched.as_deref().is_some_and(|m| m != template) {
                unmatched.push(format!("{method} {uri} matched {matched:?}, not {template}"));
                break;
            }
            if matched.is_some() && res.status() != StatusCode::METHOD_NOT_ALLOWED {
                served.insert((method.to_owned(), template.clone()));
            }
        }
    }
    (served, unmatched)
}

fn instantiate(template: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = &rest[open + rest[open..].find('}').expect("closing brace") + 1..];
    }
    out.push_str(rest);
    out
}

/// What is served but not documented and documented but not served, one line each.
fn differences(served: &BTreeSet<Operation>, documented: &BTreeSet<Operation>) -> Vec<String> {
    let undocumented = served
        .iter()
        .filter(|(_, path)| !UNDOCUMENTED.contains(&path.as_str()))
        .filter(|op| !documented.contains(*op))
        .map(|(m, p)| format!("served but not documented: {m} {p}"));
    let unserved = documented
        .iter()
        .filter(|op| !served.contains(*op))
        .map(|(m, p)| format!("documented but not served: {m} {p}"));
    undocumented.chain(unserved).collect()
}

#[actix_web::test]
async fn served_routes_and_documented_paths_are_the_same_set() {
    let documented = documented();
    let by_source = served_by_source();
    assert!(by_source.len() > 100, "walking configure found only {} routes", by_source.len());

    let app = TestApp::spawn().await;
    let templates: BTreeSet<String> = by_source
        .iter()
        .chain(&documented)
        .map(|(_, path)| path.clone())
        .filter(|p| !UNDOCUMENTED.contains(&p.as_str()))
        .collect();
    let (by_probe, unmatched) = served_by_probe(&app, &templates).await;
    assert!(unmatched.is_empty(), "paths the router sends elsewhere:\n{}", unmatched.join("\n"));

    let from_source = differences(&by_source, &documented);
    assert!(
        from_source.is_empty(),
        "routes in `configure` and the OpenAPI document differ:\n{}",
        from_source.join("\n")
    );
    let from_probe = differences(&by_probe, &documented);
    assert!(from_probe.is_empty(), "the running router and the OpenAPI document differ:\n{}", from_probe.join("\n"));
}

#[test]
fn a_route_missing_from_either_side_is_named() {
    let op = |m: &str, p: &str| (m.to_owned(), p.to_owned());
    let documented: BTreeSet<Operation> =
        [op("GET", "/api/v1/agencies"), op("GET", "/api/v1/agencies/{id}")].into_iter().collect();
    let mut served = documented.clone();
    served.remove(&op("GET", "/api/v1/agencies/{id}"));
    served.insert(op("PATCH", "/api/v1/agencies/{id}"));
    served.insert(op("GET", "/docs/{_}"));
    assert_eq!(
        differences(&served, &documented),
        vec![
            "served but not documented: PATCH /api/v1/agencies/{id}".to_owned(),
            "documented but not served: GET /api/v1/agencies/{id}".to_owned(),
        ]
    );
    assert!(differences(&documented, &documented).is_empty());
}

#[test]
fn walking_configure_reads_resources_routes_and_regex_segments() {
    let body = r#"pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/a").route(web::get().to(x)).route(web::post().to(y)))
        .service(web::resource("/calendar/{token:[A-Za-z0-9_-]+}.ics").route(web::get().to(z)));
    cfg.route("/healthz", web::get().to(h));
"#;
    let ops: Vec<Operation> = routes_in(body, "/p").into_iter().collect();
    let op = |m: &str, p: &str| (m.to_owned(), p.to_owned());
    assert_eq!(
        ops,
        vec![op("GET", "/p/a"), op("GET", "/p/calendar/{token}.ics"), op("GET", "/p/healthz"), op("POST", "/p/a")]
    );
}
