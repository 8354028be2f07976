//! The audit chain: records written with their change, sealed into the chain after the commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use diesel::prelude::*;
use serde_json::json;
use terren_api::audit::{self, Actor, sealer};
use terren_api::db::schema::{audit_log, audit_pending};
use terren_api::db::{DbConnection, PooledConn, backend};

use crate::harness::TestApp;

fn write_one(conn: &mut PooledConn, at: chrono::NaiveDateTime, entity: &str) -> QueryResult<()> {
    backend::write_transaction(conn, |conn| {
        audit::record(conn, &Actor::system(), at, "test.write", "test", entity, json!({ "entity": entity }))
    })
}

fn counts(conn: &mut DbConnection) -> (i64, i64) {
    let pending = audit_pending::table.count().get_result(conn).unwrap();
    let sealed = audit_log::table.count().get_result(conn).unwrap();
    (pending, sealed)
}

#[actix_web::test]
async fn a_change_waits_with_its_record_and_the_sealer_chains_it() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let created = app
        .post(
            "/api/v1/users",
            Some(&admin),
            &json!({ "username": "sealed.one", "display_name": "S", "agency_code": "AL224-QKT",
                     "roles": ["field_worker"], "password": "a-temporary-password" }),
        )
        .await;
    assert_eq!(created.status, actix_web::http::StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();

    let db = app.state.db.clone();
    let (before, after, chain, actions) = actix_web::rt::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        let waiting: Vec<String> = audit_pending::table
            .filter(audit_pending::entity_id.eq(&id))
            .select(audit_pending::action)
            .load(&mut conn)
            .unwrap();
        assert_eq!(waiting, ["user.create"], "the record is written with the change, before any sealing");
        let before = counts(&mut conn);
        let sealed = sealer::seal_pending(&mut conn).unwrap();
        assert_eq!(i64::try_from(sealed).unwrap(), before.0);
        let after = counts(&mut conn);
        let chain = audit::verify_chain(&mut conn).unwrap();
        let actions: Vec<String> =
            audit_log::table.filter(audit_log::entity_id.eq(&id)).select(audit_log::action).load(&mut conn).unwrap();
        // Records waiting for the sealer cannot be rewritten either.
        write_one(&mut conn, chrono::Utc::now().naive_utc(), "late").unwrap();
        let tamper = diesel::sql_query("UPDATE audit_pending SET action = 'x'").execute(&mut conn);
        assert!(tamper.is_err(), "pending audit records must not be updatable");
        (before, after, chain, actions)
    })
    .await
    .unwrap();
    assert!(before.0 >= 1);
    assert_eq!(after, (0, before.0 + before.1), "every pending record moved into the chain");
    assert_eq!(chain, Ok(usize::try_from(after.1).unwrap()));
    assert_eq!(actions, ["user.create"]);
}

#[actix_web::test]
async fn a_change_rolled_back_leaves_no_record_behind() {
    let app = TestApp::spawn().await;
    let db = app.state.db.clone();
    let at = app.clock_naive();
    let (pending, sealed) = actix_web::rt::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        sealer::seal_pending(&mut conn).unwrap();
        let before = counts(&mut conn);
        let failed: Result<(), diesel::result::Error> = backend::write_transaction(&mut conn, |conn| {
            audit::record(conn, &Actor::system(), at, "test.write", "test", "gone", json!({}))?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(failed.is_err());
        let after = counts(&mut conn);
        assert_eq!(after, before, "the record went with its change");
        sealer::seal_pending(&mut conn).unwrap();
        counts(&mut conn)
    })
    .await
    .unwrap();
    assert_eq!(pending, 0);
    assert!(sealed > 0);
}

/// Writers commit while two sealers (two server processes, say) run at once: every record ends up
/// in the chain exactly once, numbered without gaps, and the chain verifies.
#[actix_web::test]
async fn concurrent_writers_and_two_sealers_make_one_gapless_chain() {
    const WRITERS: usize = 4;
    const EACH: usize = 60;
    let app = TestApp::spawn().await;
    let db = app.state.db.clone();
    let at = app.clock_naive();
    let (sealed_before, entities, chain) = actix_web::rt::task::spawn_blocking(move || {
        let sealed_before = {
            let mut conn = db.get().unwrap();
            sealer::seal_pending(&mut conn).unwrap();
            counts(&mut conn).1
        };
        let writing = Arc::new(AtomicBool::new(true));
        let sealers: Vec<_> = (0..2)
            .map(|_| {
                let (db, writing) = (db.clone(), writing.clone());
                std::thread::spawn(move || {
                    let mut conn = db.get().unwrap();
                    let mut rounds = 0;
                    while writing.load(Ordering::SeqCst) || rounds == 0 {
                        sealer::seal_pending(&mut conn).unwrap();
                        rounds += 1;
                    }
                })
            })
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let db = db.clone();
                std::thread::spawn(move || {
                    let mut conn = db.get().unwrap();
                    for i in 0..EACH {
                        write_one(&mut conn, at, &format!("w{w}-{i}")).unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        writing.store(false, Ordering::SeqCst);
        for sealer in sealers {
            sealer.join().unwrap();
        }
        let mut conn = db.get().unwrap();
        sealer::seal_pending(&mut conn).unwrap();
        let entities: Vec<String> = audit_log::table
            .filter(audit_log::action.eq("test.write"))
            .select(audit_log::entity_id)
            .load(&mut conn)
            .unwrap();
        (sealed_before, entities, audit::verify_chain(&mut conn).unwrap())
    })
    .await
    .unwrap();
    let distinct: std::collections::BTreeSet<&String> = entities.iter().collect();
    assert_eq!(entities.len(), WRITERS * EACH, "each record sealed exactly once");
    assert_eq!(distinct.len(), WRITERS * EACH);
    assert_eq!(chain, Ok(usize::try_from(sealed_before).unwrap() + WRITERS * EACH));
}
