//! The change feed: every change to a record a phone may hold is numbered after it commits, so a
//! reader following the numbers misses nothing, whatever order transactions commit in.

use std::sync::mpsc;

use actix_web::http::StatusCode;
use chrono::Duration;
use diesel::prelude::*;
use terren_api::changes::{self, kinds};
use terren_api::db::schema::agencies;
use terren_api::db::{DbConnection, backend};

use crate::fixtures::{recorded_sighting, referral, sighting};
use crate::harness::TestApp;

/// The records named in the feed after `after`.
async fn changed_since(app: &TestApp, after: i64) -> Vec<(String, String)> {
    app.db(move |conn| changes::since(conn, after, 10_000).unwrap())
        .await
        .into_iter()
        .map(|change| (change.record_kind, change.record_id))
        .collect()
}

async fn head(app: &TestApp) -> i64 {
    app.db(|conn| changes::head(conn).unwrap()).await
}

fn touch_agency(conn: &mut DbConnection, code: &str) {
    diesel::update(agencies::table.filter(agencies::code.eq(code)))
        .set(agencies::name.eq(agencies::name))
        .execute(conn)
        .unwrap();
}

fn agency_id(conn: &mut DbConnection, code: &str) -> String {
    agencies::table.filter(agencies::code.eq(code)).select(agencies::id).get_result(conn).unwrap()
}

#[actix_web::test]
async fn a_change_that_commits_after_a_later_one_still_comes_after_what_was_read() {
    let app = TestApp::spawn().await;
    let before = head(&app).await;
    let (first, second) = app.db(|conn| (agency_id(conn, "AL224-QKT"), agency_id(conn, "AL-11-DVP"))).await;

    // A writer changes one agency and holds its transaction open; on PostgreSQL another writer
    // changes a second agency and commits meanwhile, the feed is sealed and read, and only then
    // does the first commit. (SQLite has one writer at a time: there the second waits for the
    // first, and the order is the order of the commits.)
    let db = app.state.db.clone();
    let (changed, go_on) = (mpsc::channel::<()>(), mpsc::channel::<()>());
    let (changed_tx, changed_rx) = changed;
    let (go_on_tx, go_on_rx) = go_on;
    let slow = std::thread::spawn(move || {
        let mut conn = db.get().unwrap();
        backend::write_transaction(&mut conn, |tx| -> QueryResult<()> {
            touch_agency(tx, "AL224-QKT");
            changed_tx.send(()).unwrap();
            go_on_rx.recv().unwrap();
            Ok(())
        })
        .unwrap();
    });
    changed_rx.recv().unwrap();
    let postgres = crate::harness::postgres_url().is_some();
    let read_between = if postgres {
        let now = app.clock_naive();
        let db = app.state.db.clone();
        let read = actix_web::rt::task::spawn_blocking(move || {
            let mut conn = db.get().unwrap();
            backend::write_transaction(&mut conn, |tx| -> QueryResult<()> {
                touch_agency(tx, "AL-11-DVP");
                Ok(())
            })
            .unwrap();
            changes::seal_pending(&mut conn, now).unwrap();
            changes::head(&mut conn).unwrap()
        })
        .await
        .unwrap();
        let seen = changed_since(&app, before).await;
        assert!(seen.contains(&(kinds::AGENCY.to_owned(), second.clone())), "{seen:?}");
        assert!(!seen.contains(&(kinds::AGENCY.to_owned(), first.clone())), "not committed yet: {seen:?}");
        Some(read)
    } else {
        None
    };
    go_on_tx.send(()).unwrap();
    actix_web::rt::task::spawn_blocking(move || slow.join().unwrap()).await.unwrap();

    let after_read = read_between.unwrap_or(before);
    let seen = changed_since(&app, after_read).await;
    assert!(
        seen.contains(&(kinds::AGENCY.to_owned(), first)),
        "the change that committed late follows what was read before it: {seen:?}"
    );
}

#[actix_web::test]
async fn the_feed_names_each_record_a_request_the_worker_or_retention_changed() {
    let app = TestApp::spawn().await;
    let start = head(&app).await;

    let seen = recorded_sighting(&app, "tirana.field", &sighting("0190f7a0-0000-7000-8000-00000000c001")).await;
    let left = recorded_sighting(&app, "tirana.field", &sighting("0190f7a0-0000-7000-8000-00000000c003")).await;
    let field = app.login("tirana.field").await;
    let res = app
        .post_idempotent(
            "/api/v1/referrals",
            &field,
            "r-1",
            &referral("0190f7a0-0000-7000-8000-00000000c002", &seen.id.to_string(), "high"),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let after_referral = head(&app).await;
    let changed = changed_since(&app, start).await;
    for expected in [
        (kinds::IDENTIFICATION, seen.id.to_string()),
        (kinds::REFERRAL, "0190f7a0-0000-7000-8000-00000000c002".to_owned()),
    ] {
        assert!(changed.contains(&(expected.0.to_owned(), expected.1.clone())), "{expected:?} in {changed:?}");
    }
    // Each record once per sealing, however many rows of it changed.
    let referral_notes = changed.iter().filter(|(kind, _)| kind == kinds::REFERRAL).count();
    assert_eq!(referral_notes, 1, "{changed:?}");

    // Retention coarsens the location of the sighting nobody referred, months later: the phone
    // must hear of it.
    app.clock.advance(Duration::days(app.state.config.retention.precise_location_days + 1));
    let report = app.run_retention().await;
    assert_eq!(report.coarsened, 1, "{report:?}");
    let later = changed_since(&app, after_referral).await;
    assert!(later.contains(&(kinds::IDENTIFICATION.to_owned(), left.id.to_string())), "{later:?}");
    assert!(!later.contains(&(kinds::IDENTIFICATION.to_owned(), seen.id.to_string())), "{later:?}");
}

#[actix_web::test]
async fn old_changes_are_pruned_but_the_head_is_kept() {
    let app = TestApp::spawn().await;
    app.db(|conn| touch_agency(conn, "AL224-QKT")).await;
    let head_before = head(&app).await;
    assert!(head_before > 0);
    app.clock.advance(Duration::days(app.state.config.retention.change_feed_days + 1));
    let report = app.run_retention().await;
    assert!(report.pruned_changes > 0, "{report:?}");
    assert_eq!(head(&app).await, head_before, "the newest change stays, so numbering goes on");
    let oldest = app.db(|conn| changes::oldest_kept(conn).unwrap()).await;
    assert_eq!(oldest, Some(head_before));
}
