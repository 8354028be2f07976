//! Both backends end with the same tables and columns: each run compares the migrated schema with
//! one committed snapshot (`migrations/schema.snapshot`), on SQLite and on PostgreSQL.

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use terren_api::db::DbConnection;

use crate::harness::TestApp;

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Integer)]
    nullable: i32,
}

fn normalize(data_type: &str) -> String {
    match data_type.to_ascii_lowercase().as_str() {
        "text" => "text",
        "integer" => "integer",
        "bigint" => "bigint",
        "double" | "double precision" => "double",
        "boolean" => "bool",
        "timestamp" | "timestamp without time zone" => "timestamp",
        other => return format!("UNPORTABLE({other})"),
    }
    .to_owned()
}

fn describe(conn: &mut DbConnection) -> String {
    let query = match conn {
        DbConnection::Sqlite(_) => {
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, \
             CASE WHEN p.\"notnull\" = 1 THEN 0 ELSE 1 END AS nullable \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '__diesel%'"
        }
        DbConnection::Postgres(_) => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type, \
             CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS nullable \
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE '__diesel%'"
        }
    };
    let mut lines: Vec<String> = diesel::sql_query(query)
        .load::<Column>(conn)
        .unwrap()
        .into_iter()
        .map(|c| {
            let null = if c.nullable == 1 { "null" } else { "not null" };
            format!("{}.{} {} {}", c.table_name, c.column_name, normalize(&c.data_type), null)
        })
        .collect();
    lines.sort();
    lines.join("\n") + "\n"
}

#[actix_web::test]
async fn both_backends_have_the_committed_schema_and_migrations_round_trip() {
    let app = TestApp::spawn().await;
    let db = app.state.db.clone();
    let (before, after) = actix_web::rt::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        let before = describe(&mut conn);
        conn.revert_every_migration().unwrap();
        assert_eq!(describe(&mut conn), "\n", "down migrations leave nothing behind");
        conn.run_migrations().unwrap();
        (before, describe(&mut conn))
    })
    .await
    .unwrap();
    assert_eq!(before, after, "down then up restores the same schema");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/schema.snapshot");
    if std::env::var("TERREN_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &before).unwrap();
    }
    let expected =
        std::fs::read_to_string(&path).expect("migrations/schema.snapshot (TERREN_UPDATE_SNAPSHOTS=1 writes it)");
    assert!(!before.contains("UNPORTABLE"), "{before}");
    assert_eq!(before, expected, "the migrated schema differs from migrations/schema.snapshot");
}
