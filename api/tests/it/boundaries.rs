//! Boundaries: a synthetic import exercising the matcher, and the real 12 + 61 + 373 boundaries
//! of Albania (from `TERREN_TEST_BOUNDARIES_DIR`, by default `../shared/data/albania`).

use std::path::PathBuf;

use actix_web::http::StatusCode;
use serde_json::json;

use crate::fixtures::import_boundaries;
use crate::harness::TestApp;

/// The folder with Albania's boundary files: `TERREN_TEST_BOUNDARIES_DIR` (the test fails when
/// it is set and the files are missing), else `../shared/data/albania` beside the repository.
fn boundaries_dir() -> Option<PathBuf> {
    match std::env::var("TERREN_TEST_BOUNDARIES_DIR") {
        Ok(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/albania")).filter(|d| d.is_dir()),
    }
}

async fn boundary_rows(app: &TestApp) -> i64 {
    let db = app.state.db.clone();
    actix_web::rt::task::spawn_blocking(move || {
        use diesel::prelude::*;
        terren_api::db::schema::area_boundaries::table.count().get_result(&mut db.get().unwrap()).unwrap()
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn the_real_boundaries_of_albania_locate_known_places() {
    let Some(dir) = boundaries_dir() else {
        eprintln!(
            "Albania's boundary files are not beside the repository and TERREN_TEST_BOUNDARIES_DIR is unset: not run"
        );
        return;
    };
    let files =
        ["albania_adm1_qarqe.geojson", "albania_adm2_bashki.geojson", "albania_adm3_njesi_administrative.geojson"];
    for file in files {
        assert!(
            dir.join(file).is_file(),
            "{} is missing: set TERREN_TEST_BOUNDARIES_DIR to the folder with Albania's boundary files (see README)",
            dir.join(file).display()
        );
    }
    let app = TestApp::spawn().await;
    let mut matched = Vec::new();
    for (file, name) in files.iter().zip(["adm1", "adm2", "adm3"]) {
        let report = import_boundaries(&app, std::fs::read_to_string(dir.join(file)).unwrap(), name).await;
        assert!(report.unmatched.is_empty(), "{file}: {:?}", report.unmatched);
        matched.push(report.matched.len());
    }
    assert_eq!(matched, vec![12, 61, 373]);
    assert_eq!(app.state.territory().boundary_count(), 12 + 61 + 386);

    let token = app.login("tirana.field").await;
    let locate = |lat: f64, lon: f64| {
        let token = token.clone();
        let app = &app;
        async move { app.get(&format!("/api/v1/areas/locate?lat={lat}&lon={lon}"), Some(&token)).await.body }
    };
    // Skanderbeg Square: Tiranë, inside the city outline shared by the urban units.
    let square = locate(41.3275, 19.8187).await;
    assert_eq!(square["county"]["code"], "AL-11");
    assert_eq!(square["municipality"]["code"], "AL224");
    assert_eq!(square["municipality"]["method"], "boundary");
    assert_eq!(square["admin_unit"]["method"], "nearest_centroid");
    assert!(square["admin_unit"]["code"].as_str().unwrap().starts_with("AL224-"), "{square}");
    // Bathore, in Kamëz.
    let bathore = locate(41.3945, 19.7710).await;
    assert_eq!(bathore["municipality"]["code"], "AL221", "{bathore}");
    assert_eq!(bathore["municipality"]["method"], "boundary");
    assert_eq!(bathore["admin_unit"]["name"], "Kamëz");
    assert_eq!(bathore["method"], "boundary");
    // Central Elbasan.
    let elbasan = locate(41.1125, 20.0822).await;
    assert_eq!(elbasan["municipality"]["code"], "AL213", "{elbasan}");
    assert_eq!(elbasan["county"]["code"], "AL-03");
    assert_eq!(elbasan["method"], "boundary");
    // Rural Tirana unit with its own boundary.
    let dajt = locate(41.3405, 19.9319).await;
    assert_eq!(dajt["admin_unit"]["name"], "Dajt", "{dajt}");
    // The Adriatic, off Durrës: no municipality, and an explicit answer.
    let sea = locate(41.30, 19.25).await;
    assert_eq!(sea["method"], "outside", "{sea}");
    assert_eq!(sea["municipality"], serde_json::Value::Null);
    assert_eq!(sea["county"], serde_json::Value::Null);
}

#[actix_web::test]
async fn features_match_by_code_or_name_and_the_rest_is_reported() {
    let app = TestApp::spawn().await;
    let square = |x0: f64, y0: f64, x1: f64, y1: f64| json!({"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]});
    let collection = json!({
        "type": "FeatureCollection",
        "features": [
            // By name with diacritics folded, and parent given to pick the right "Qendër".
            {"type": "Feature", "properties": {"municipality_name": "KAMEZ"}, "geometry": square(19.70, 41.35, 19.85, 41.45)},
            {"type": "Feature", "properties": {"adm3_name": "Qender", "municipality": "Fier"}, "geometry": square(19.5, 40.7, 19.6, 40.8)},
            {"type": "Feature", "properties": {"name": "Atlantis"}, "geometry": square(0.0, 0.0, 1.0, 1.0)},
            {"type": "Feature", "properties": {"adm3_name": "Qender"}, "geometry": square(0.0, 0.0, 1.0, 1.0)},
            // "Elbasan" is a county, a municipality and a unit: without a level it is ambiguous...
            {"type": "Feature", "properties": {"name": "Elbasan"}, "geometry": square(20.0, 41.0, 20.1, 41.1)},
            // ...with geoBoundaries' shapeType it is the municipality.
            {"type": "Feature", "properties": {"shapeName": "Elbasan", "shapeType": "ADM2"}, "geometry": square(20.0, 41.0, 20.2, 41.2)},
            // A unit whose own id is unknown must not capture its municipality through the parent
            // code it carries.
            {"type": "Feature", "id": "ALB-ADM3-UNKNOWN", "properties": {"adm3_name": "Nowhere", "municipality_lau_code": "AL224"}, "geometry": square(19.8, 41.3, 19.9, 41.4)},
            {"type": "Feature", "properties": {"name": "Vorë"}, "geometry": {"type": "Point", "coordinates": [19.6, 41.4]}},
        ]
    });
    let report = import_boundaries(&app, collection.to_string(), "test.geojson").await;
    assert_eq!(report.features, 8);
    let matched: Vec<(String, Vec<String>)> = report.matched.clone();
    assert_eq!(matched.len(), 3, "{matched:?}");
    assert_eq!(matched[0].1, vec!["AL221"]);
    assert_eq!(matched[1].1.len(), 1);
    assert!(matched[1].1[0].starts_with("AL322-"), "Qendër of Fier: {:?}", matched[1]);
    assert_eq!(matched[2].1, vec!["AL213"], "shapeType ADM2 picks the municipality");
    let reasons: Vec<&str> = report.unmatched.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert!(reasons[0].contains("no area"));
    assert!(reasons[1].contains("ambiguous name"));
    assert!(reasons[2].contains("several levels"));
    assert!(reasons[3].contains("no area"), "the unknown unit is not attached to Tiranë");
    assert!(reasons[4].contains("not Polygon"));

    let token = app.login("kamez.field").await;
    let res = app.get("/api/v1/areas/locate?lat=41.40&lon=19.78", Some(&token)).await;
    assert_eq!(res.body["municipality"]["code"], "AL221");
    assert_eq!(res.body["municipality"]["method"], "boundary");
    // Kamëz's units have no boundary yet: the nearer of Kamëz and Paskuqan answers.
    assert_eq!(res.body["admin_unit"]["method"], "nearest_centroid");

    // Importing again replaces the boundary rather than adding one.
    let again = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "AL221", "properties": {}, "geometry": square(19.70, 41.35, 19.86, 41.46)}]});
    let report = import_boundaries(&app, again.to_string(), "again.geojson").await;
    assert_eq!(report.matched[0].1, vec!["AL221"]);
    assert_eq!(boundary_rows(&app).await, 3, "Kamëz's old outline is gone; Qendër's and Elbasan's stay");
}

#[actix_web::test]
async fn invalid_geojson_writes_nothing() {
    let app = TestApp::spawn().await;
    let db = app.state.db.clone();
    let at = app.clock_naive();
    let result = actix_web::rt::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        terren_api::territory::import::import_geojson(
            &mut conn,
            "{\"type\": \"FeatureCollection\", \"features\": [",
            "bad",
            None,
            at,
        )
    })
    .await
    .unwrap();
    assert!(result.unwrap_err().to_string().contains("not valid GeoJSON"));
    assert_eq!(boundary_rows(&app).await, 0);
    let token = app.login("admin").await;
    assert_eq!(app.post("/api/v1/areas/reload", Some(&token), &json!({})).await.status, StatusCode::NO_CONTENT);
    let field = app.login("tirana.field").await;
    assert_eq!(app.post("/api/v1/areas/reload", Some(&field), &json!({})).await.status, StatusCode::FORBIDDEN);
}

async fn import_at_level(
    app: &TestApp,
    collection: &serde_json::Value,
    level: Option<terren_contract::areas::AreaLevel>,
) -> anyhow::Result<terren_api::territory::import::ImportReport> {
    let db = app.state.db.clone();
    let at = app.clock_naive();
    let text = collection.to_string();
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        terren_api::territory::import::import_geojson(&mut conn, &text, "fixture.geojson", level, at)
    })
    .await
    .unwrap()
}

fn polygon(x0: f64, y0: f64) -> serde_json::Value {
    json!({"type": "Polygon", "coordinates": [[[x0, y0], [x0 + 0.1, y0], [x0 + 0.1, y0 + 0.1], [x0, y0 + 0.1], [x0, y0]]]})
}

#[actix_web::test]
async fn a_file_of_another_level_is_refused_and_nothing_is_written() {
    use terren_contract::areas::AreaLevel;
    let app = TestApp::spawn().await;
    // Municipalities, as the municipality file carries them: their own code and their county's.
    let municipalities = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "AL224", "properties": {"municipality_name": "Tiranë", "county_iso_3166_2": "AL-11"}, "geometry": polygon(19.7, 41.3)},
        {"type": "Feature", "id": "AL221", "properties": {"municipality_name": "Kamëz", "county_iso_3166_2": "AL-11"}, "geometry": polygon(19.7, 41.4)},
    ]});
    let err = import_at_level(&app, &municipalities, Some(AreaLevel::County)).await.unwrap_err().to_string();
    assert!(err.contains("nothing was written"), "{err}");
    assert!(err.contains("AL224") && err.contains("municipality") && err.contains("not of a county"), "{err}");
    assert_eq!(boundary_rows(&app).await, 0);

    // Same without ids: the LAU code property is the feature's own code.
    let by_property = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"lau_code": "AL213", "county_iso_3166_2": "AL-03"}, "geometry": polygon(20.0, 41.1)},
    ]});
    let err = import_at_level(&app, &by_property, Some(AreaLevel::County)).await.unwrap_err().to_string();
    assert!(err.contains("AL213"), "{err}");
    // A declared shapeType of another level.
    let declared = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"shapeName": "Elbasan", "shapeType": "ADM2"}, "geometry": polygon(20.0, 41.1)},
    ]});
    let err = import_at_level(&app, &declared, Some(AreaLevel::County)).await.unwrap_err().to_string();
    assert!(err.contains("declares itself a municipality"), "{err}");
    assert_eq!(boundary_rows(&app).await, 0);

    // At the right level the same file is written.
    let report = import_at_level(&app, &municipalities, Some(AreaLevel::Municipality)).await.unwrap();
    assert_eq!(report.matched.len(), 2);
    assert_eq!(boundary_rows(&app).await, 2);
}

#[actix_web::test]
async fn one_feature_onto_several_areas_or_several_onto_one_is_refused() {
    use terren_contract::areas::AreaLevel;
    let app = TestApp::spawn().await;
    let two_onto_one = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "AL221", "properties": {"name": "Kamëz"}, "geometry": polygon(19.7, 41.4)},
        {"type": "Feature", "id": "AL224", "properties": {"name": "Tiranë"}, "geometry": polygon(19.8, 41.3)},
        {"type": "Feature", "properties": {"municipality_name": "Kamez"}, "geometry": polygon(19.6, 41.4)},
    ]});
    let err = import_at_level(&app, &two_onto_one, None).await.unwrap_err().to_string();
    assert!(err.contains("AL221") && err.contains("several features would be written onto it"), "{err}");
    assert!(!err.contains("AL224 "), "Tiranë alone is fine: {err}");
    assert_eq!(boundary_rows(&app).await, 0, "nothing written, not even Tiranë");

    let one_onto_two = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"lau_code": "AL221", "other_code": "AL224"}, "geometry": polygon(19.7, 41.4)},
    ]});
    let err = import_at_level(&app, &one_onto_two, Some(AreaLevel::Municipality)).await.unwrap_err().to_string();
    assert!(err.contains("onto several areas"), "{err}");
    assert_eq!(boundary_rows(&app).await, 0);

    // Areas that share the feature's code share its outline (Tirana's urban units).
    let shared = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "ALB-ADM3-75397710B54036192", "properties": {"adm3_name": "Tiranë"}, "geometry": polygon(19.8, 41.3)},
    ]});
    let report = import_at_level(&app, &shared, Some(AreaLevel::AdminUnit)).await.unwrap();
    assert_eq!(report.matched.len(), 1);
    assert_eq!(report.matched[0].1.len(), 14, "{:?}", report.matched);
}
