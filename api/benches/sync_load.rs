//! Phones keeping their working sets in sync against a running server: PHONES (500) field
//! workers, spread over the child-protection units of every municipality (so a few work in
//! Tirana, where the bench's writers record their sightings), each syncing every EVERY (30)
//! seconds for SECONDS (40), after signing in and a first sync each.
//!
//! Two steps, as `api/benches/http/sync_under_writes.sh` runs them:
//!
//! - `MODE=prepare` with the server stopped: creates the phones' accounts (`load.phone.NNN`,
//!   field workers; kept, so a second run reuses them) in the database at DATABASE_URL;
//! - `MODE=run` against the server at TERREN_URL: signs every phone in, makes its first sync
//!   (4 at a time), prints `steady` when the periodic syncs begin, and at the end the latency of
//!   each request (a page) and of each whole sync (all its pages), and every answer that was not
//!   a 200.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchsync/terren.db MODE=prepare cargo bench -p terren-api --bench sync_load
//! TERREN_URL=http://127.0.0.1:18092 MODE=run cargo bench -p terren-api --bench sync_load
//! ```

#[macro_use]
#[expect(dead_code, unused_macros, reason = "the bench uses a few of the shared helpers")]
mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, anyhow};
use diesel::prelude::*;
use terren_api::accounts::service::create_user;
use terren_api::db::schema::{agencies, users};
use terren_api::state::AppState;
use terren_contract::common::Role;
use terren_contract::sync::SyncPage;
use terren_contract::users::CreateUserRequest;

use support::{bench_config, env_or, report_ms};

const PASSWORD: &str = "load-phone-password";

fn username(n: usize) -> String {
    format!("load.phone.{n:03}")
}

/// Creates the accounts that do not exist yet, one per phone, round-robin over the units.
fn prepare(phones: usize) -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("set DATABASE_URL to sqlite://PATH or postgres://…")?;
    let (_data_dir, config) = bench_config(url)?;
    let state = AppState::prepare_with_system_clock(config, false)?;
    let mut conn = state.db.get()?;
    let mut units: Vec<String> = agencies::table
        .filter(agencies::code.like("%-NJMF"))
        .select(agencies::code)
        .order(agencies::code)
        .load(&mut conn)?;
    units.push("AL224-QKT".into());
    let existing: Vec<String> =
        users::table.filter(users::username.like("load.phone.%")).select(users::username).load(&mut conn)?;
    let mut created = 0;
    for n in (0..phones).filter(|n| !existing.contains(&username(*n))) {
        let request = CreateUserRequest {
            username: username(n),
            display_name: format!("Load phone {n}"),
            agency_code: units[n % units.len()].clone(),
            roles: vec![Role::FieldWorker],
            phone: None,
            email: None,
            password: PASSWORD.into(),
        };
        create_user(&state, &mut conn, None, &request).map_err(|e| anyhow!("creating {}: {e:?}", request.username))?;
        created += 1;
    }
    println!("{created} accounts created, {} there already, over {} units", existing.len(), units.len());
    Ok(())
}

/// What the phones saw: milliseconds per request and per whole sync, and other answers.
#[derive(Default)]
struct Seen {
    requests: Vec<i64>,
    syncs: Vec<i64>,
    records: usize,
    failures: BTreeMap<String, usize>,
}

struct Phone {
    token: String,
    cursor: Option<String>,
}

async fn sign_in(client: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<Phone> {
    let answer = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({ "username": username(n), "password": PASSWORD, "device_id": format!("load-{n}") }))
        .send()
        .await?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await?;
    let token =
        body["access_token"].as_str().ok_or_else(|| anyhow!("login of {} answered {status}: {body}", username(n)))?;
    Ok(Phone { token: token.to_owned(), cursor: None })
}

/// One whole sync (every page until `has_more` is false), recorded in `seen`.
async fn sync(client: &reqwest::Client, base: &str, phone: &mut Phone, seen: &mut Seen) -> anyhow::Result<()> {
    let began = Instant::now();
    loop {
        let mut query = vec![("limit", "500")];
        if let Some(cursor) = &phone.cursor {
            query.push(("cursor", cursor));
        }
        let url = reqwest::Url::parse_with_params(&format!("{base}/api/v1/sync"), &query)?;
        let sent = Instant::now();
        let answer = match client.get(url).bearer_auth(&phone.token).header("Accept-Encoding", "gzip").send().await {
            Ok(answer) => answer,
            Err(error) => {
                *seen.failures.entry(format!("no answer: {error}")).or_default() += 1;
                return Ok(());
            }
        };
        let status = answer.status();
        let gzip = answer.headers().get("content-encoding").is_some_and(|v| v == "gzip");
        let bytes = answer.bytes().await?;
        seen.requests.push(sent.elapsed().as_millis() as i64);
        if status != 200 {
            *seen.failures.entry(format!("{status} {}", String::from_utf8_lossy(&bytes))).or_default() += 1;
            return Ok(());
        }
        let json = if gzip {
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut text)?;
            text
        } else {
            bytes.to_vec()
        };
        let page: SyncPage = serde_json::from_slice(&json)?;
        seen.records += page.identifications.put.len() + page.profiles.put.len() + page.referrals.put.len();
        phone.cursor = Some(page.cursor);
        if !page.has_more {
            break;
        }
    }
    seen.syncs.push(began.elapsed().as_millis() as i64);
    Ok(())
}

/// Runs `work` for each phone with at most `at_once` in flight.
async fn each<F, Fut>(phones: Vec<Phone>, at_once: usize, work: F) -> anyhow::Result<Vec<Phone>>
where
    F: Fn(Phone) -> Fut + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Phone>> + 'static,
{
    let work = Rc::new(work);
    let mut queue = phones.into_iter();
    let mut done = Vec::new();
    loop {
        let batch: Vec<_> = queue.by_ref().take(at_once).map(|phone| actix_web::rt::spawn(work(phone))).collect();
        if batch.is_empty() {
            return Ok(done);
        }
        for task in batch {
            done.push(task.await??);
        }
    }
}

async fn run(base: String, phones: usize, every: u64, seconds: u64) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let began = Instant::now();
    let signed_in = {
        let (client, base) = (client.clone(), base.clone());
        let placeholders = (0..phones).map(|n| Phone { token: n.to_string(), cursor: None }).collect();
        each(placeholders, 8, move |phone| {
            let (client, base) = (client.clone(), base.clone());
            async move { sign_in(&client, &base, phone.token.parse()?).await }
        })
        .await?
    };
    println!("{phones} phones signed in in {:.0} s", began.elapsed().as_secs_f64());
    let first = Rc::new(std::cell::RefCell::new(Seen::default()));
    let began = Instant::now();
    let synced = {
        let (client, base, first) = (client.clone(), base.clone(), first.clone());
        each(signed_in, 4, move |mut phone| {
            let (client, base, first) = (client.clone(), base.clone(), first.clone());
            async move {
                let mut seen = Seen::default();
                sync(&client, &base, &mut phone, &mut seen).await?;
                let mut all = first.borrow_mut();
                all.syncs.extend(seen.syncs);
                all.records += seen.records;
                for (failure, count) in seen.failures {
                    *all.failures.entry(failure).or_default() += count;
                }
                Ok(phone)
            }
        })
        .await?
    };
    let mut first = first.take();
    first.syncs.sort_unstable();
    println!("first syncs done in {:.0} s, {} records in all", began.elapsed().as_secs_f64(), first.records);
    report_ms("first sync of each phone", "syncs, ms", &first.syncs);
    anyhow::ensure!(first.failures.is_empty(), "first syncs failed: {:?}", first.failures);

    println!("steady");
    std::io::stdout().flush()?;
    let start = Instant::now();
    let period = StdDuration::from_secs(every);
    let mut tasks = Vec::new();
    for (n, mut phone) in synced.into_iter().enumerate() {
        let (client, base) = (client.clone(), base.clone());
        let offset = period.mul_f64(n as f64 / phones as f64);
        tasks.push(actix_web::rt::spawn(async move {
            let mut seen = Seen::default();
            let mut next = start + offset;
            while next.duration_since(start).as_secs() < seconds {
                actix_web::rt::time::sleep_until(next.into()).await;
                sync(&client, &base, &mut phone, &mut seen).await?;
                next += period;
            }
            anyhow::Ok(seen)
        }));
    }
    let mut all = Seen::default();
    for task in tasks {
        let seen = task.await??;
        all.requests.extend(seen.requests);
        all.syncs.extend(seen.syncs);
        all.records += seen.records;
        for (failure, count) in seen.failures {
            *all.failures.entry(failure).or_default() += count;
        }
    }
    all.requests.sort_unstable();
    all.syncs.sort_unstable();
    println!("periodic syncs over {:.0} s: {} records received", start.elapsed().as_secs_f64(), all.records);
    report_ms("periodic sync, each request", "requests, ms", &all.requests);
    report_ms("periodic sync, whole sync", "syncs, ms", &all.syncs);
    for (failure, count) in &all.failures {
        println!("not 200: {count} × {failure}");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let phones: usize = env_or("PHONES", 500)?;
    match std::env::var("MODE").as_deref() {
        Ok("prepare") => prepare(phones),
        Ok("run") => {
            let base = std::env::var("TERREN_URL").context("set TERREN_URL to the running server")?;
            let (every, seconds) = (env_or("EVERY", 30)?, env_or("SECONDS", 40)?);
            actix_web::rt::System::new().block_on(run(base, phones, every, seconds))
        }
        _ => Err(anyhow!("set MODE=prepare (server stopped) or MODE=run (server running)")),
    }
}
