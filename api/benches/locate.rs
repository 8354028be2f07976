//! The locate lookup alone, with Albania's real 12 + 61 + 373 boundaries loaded.
//!
//! `TERREN_TEST_BOUNDARIES_DIR=../shared/data/albania cargo bench --bench locate`
#![expect(clippy::expect_used, reason = "a benchmark that cannot set up should stop loudly")]

use std::hint::black_box;
use std::path::PathBuf;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use terren_api::config::{Config, DatabaseTarget};
use terren_api::db::Database;
use terren_api::territory::index::TerritoryIndex;

fn load_index() -> TerritoryIndex {
    let dir = std::env::var("TERREN_TEST_BOUNDARIES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/albania"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = Config::default();
    let db = Database::connect_to(DatabaseTarget::Sqlite(tmp.path().join("bench.db")), 1, &config).expect("database");
    let mut conn = db.get().expect("connection");
    conn.run_migrations().expect("migrations");
    let now = Utc::now().naive_utc();
    terren_api::seed::seed_reference(&mut conn, now).expect("seed");
    for file in
        ["albania_adm1_qarqe.geojson", "albania_adm2_bashki.geojson", "albania_adm3_njesi_administrative.geojson"]
    {
        let text = std::fs::read_to_string(dir.join(file)).expect("boundary file (set TERREN_TEST_BOUNDARIES_DIR)");
        terren_api::territory::import::import_geojson(&mut conn, &text, file, None, now).expect("import");
    }
    let index = terren_api::territory::service::load_index(&mut conn, 40.0).expect("index");
    assert_eq!(index.boundary_count(), 12 + 61 + 386);
    index
}

/// Deterministic pseudo-random points over Albania's bounding box (some at sea, some abroad).
fn points(n: usize) -> Vec<(f64, f64)> {
    let mut state: u64 = 0x5eed_1234_abcd_ef01;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n).map(|_| (39.6 + next() * 3.1, 19.2 + next() * 1.9)).collect()
}

fn bench_locate(c: &mut Criterion) {
    let index = load_index();
    let random = points(4096);
    let mut i = 0;
    c.bench_function("locate/random_point_in_albania_bbox", |b| {
        b.iter(|| {
            let (lat, lon) = random[i % random.len()];
            i += 1;
            black_box(index.locate(black_box(lat), black_box(lon)))
        })
    });
    c.bench_function("locate/skanderbeg_square", |b| {
        b.iter(|| black_box(index.locate(black_box(41.3275), black_box(19.8187))))
    });
    c.bench_function("locate/bathore_kamez", |b| {
        b.iter(|| black_box(index.locate(black_box(41.3945), black_box(19.7710))))
    });
    c.bench_function("locate/at_sea", |b| b.iter(|| black_box(index.locate(black_box(41.30), black_box(19.25)))));
}

criterion_group!(benches, bench_locate);
criterion_main!(benches);
