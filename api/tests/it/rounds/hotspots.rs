//! Hotspots drawn within the agency's areas, and the clusters of sightings suggested as new ones.

use super::*;

#[actix_web::test]
async fn hotspots_stay_in_the_agency_s_areas_and_clusters_of_sightings_are_suggested() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let lights = hotspot(&app, &coordinator, "Semaforët e sheshit", circle(LIGHTS, 100.0)).await;
    let read = app.get(&format!("/api/v1/hotspots/{lights}"), Some(&coordinator)).await;
    assert_eq!(read.body["municipality"]["code"], "AL224");
    assert_eq!(read.body["centroid"], json!({ "lat": LIGHTS.0, "lon": LIGHTS.1 }));
    let map = app.get("/api/v1/hotspots/geojson?area=AL224", Some(&coordinator)).await;
    assert_eq!(map.headers.get("content-type").unwrap(), "application/geo+json");
    assert_eq!(map.body["features"][0]["id"], lights.as_str());
    assert_eq!(map.body["features"][0]["geometry"]["type"], "Polygon");
    assert_eq!(map.body["features"][0]["geometry"]["coordinates"][0].as_array().unwrap().len(), 33);

    let elbasan = app
        .post(
            "/api/v1/hotspots",
            Some(&coordinator),
            &json!({ "name": "Tregu", "kind": "market", "shape": circle((41.1125, 20.0822), 100.0) }),
        )
        .await;
    assert_eq!(error_codes(&elbasan.body), ["outside_agency_area"]);
    // Its middle in Tiranë, its northern corner over the line in Kamëz.
    let corner = app.get("/api/v1/areas/locate?lat=41.371&lon=19.78", Some(&coordinator)).await;
    assert_eq!(corner.body["municipality"]["code"], "AL221");
    let reaching = json!({ "type": "polygon", "coordinates": [[19.775, 41.355], [19.785, 41.355], [19.78, 41.371]] });
    let straddling = app
        .post("/api/v1/hotspots", Some(&coordinator), &json!({ "name": "Kufiri", "kind": "market", "shape": reaching }))
        .await;
    assert_eq!(error_codes(&straddling.body), ["outside_agency_area"], "{}", straddling.body);
    let bad = app
        .post(
            "/api/v1/hotspots",
            Some(&coordinator),
            &json!({ "name": "X", "kind": "castle", "shape": circle(LIGHTS, 5.0) }),
        )
        .await;
    assert_eq!(error_codes(&bad.body), ["out_of_range"], "the shape is checked first");
    let field = app.login("tirana.field").await;
    let not_a_planner = app
        .post(
            "/api/v1/hotspots",
            Some(&field),
            &json!({ "name": "Y", "kind": "market", "shape": circle(MARKET, 50.0) }),
        )
        .await;
    assert_eq!(not_a_planner.status, StatusCode::FORBIDDEN);

    // Six sightings at the market, three at the lights (already a hotspot), two far apart.
    for i in 0..6 {
        seen(&app, i, near(MARKET, i), "2026-03-02T08:55:00Z").await;
    }
    for i in 6..9 {
        seen(&app, i, near(LIGHTS, i), "2026-03-01T16:30:00Z").await;
    }
    seen(&app, 9, (41.3300, 19.8050), "2026-03-01T12:00:00Z").await;
    seen(&app, 10, (41.3200, 19.8300), "2026-03-01T12:00:00Z").await;
    let suggested =
        app.get("/api/v1/hotspots/suggestions?area=AL224&distance_m=50&min_sightings=5", Some(&coordinator)).await;
    assert_eq!(suggested.status, StatusCode::OK, "{}", suggested.body);
    assert_eq!(suggested.body["sightings_considered"], 11);
    assert_eq!(suggested.body["sightings_in_hotspots"], 3);
    let clusters = suggested.body["suggestions"].as_array().unwrap();
    assert_eq!(clusters.len(), 1, "{}", suggested.body);
    let market = &clusters[0];
    assert_eq!(market["sightings"], 6);
    assert_eq!(market["unlinked_sightings"], 6);
    assert_eq!(market["distinct_children"], 0);
    assert_eq!(market["by_hour"][9], 6, "08:55 UTC is 09:55 in Tirana");
    assert_eq!(market["by_weekday"][0], 6, "a Monday");
    let (lat, lon) = (market["centroid"]["lat"].as_f64().unwrap(), market["centroid"]["lon"].as_f64().unwrap());
    assert!((lat - 41.3321).abs() < 1e-6 && (lon - 19.82405).abs() < 1e-6, "{lat},{lon}");
    assert!(market["radius_m"].as_f64().unwrap() < 20.0);
    let strict =
        app.get("/api/v1/hotspots/suggestions?area=AL224&distance_m=50&min_sightings=7", Some(&coordinator)).await;
    assert_eq!(strict.body["suggestions"], json!([]));
    let wrong = app.get("/api/v1/hotspots/suggestions?area=AL224&distance_m=5", Some(&coordinator)).await;
    assert_eq!(error_codes(&wrong.body), ["out_of_range"]);

    // The lights hotspot grows; a second editor with the old version is refused.
    let wider = json!({ "name": "Semaforët e sheshit", "kind": "traffic_light_junction", "shape": circle(LIGHTS, 150.0), "version": read.body["version"] });
    let saved = app.put(&format!("/api/v1/hotspots/{lights}"), Some(&coordinator), &wider).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["shape"]["radius_m"], 150.0);
    let stale = app.put(&format!("/api/v1/hotspots/{lights}"), Some(&coordinator), &wider).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
}
