//! Lists, maps, grids and counts of sightings: the reader's scope, filters, paging, and coarse
//! readers and national statistics kept from narrowing a sighting down.

use super::*;

/// Five sightings in Tirana, one in Kamëz and one in Elbasan, received a minute apart.
async fn seven_sightings(app: &TestApp) {
    let tirana = app.login("tirana.field").await;
    for n in 1..=5 {
        let mut body = sighting(&id(n));
        body["location"]["lat"] = json!(41.3275 - f64::from(n) * 0.001);
        body["observed_at"] = json!(format!("2026-03-02T0{n}:00:00Z"));
        if n == 3 {
            body["risk_level"] = json!("emergency");
            body["emergency"] = json!(true);
            body["street_situations"] = json!(["begging", "with_adult_begging"]);
        }
        let res = app.post_idempotent("/api/v1/identifications", &tirana, &format!("t-{n}"), &body).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        app.clock.advance(chrono::Duration::minutes(1));
    }
    let kamez = app.login("kamez.field").await;
    let mut body = sighting(&id(6));
    body["location"] = json!({"lat": 41.3945, "lon": 19.7710, "accuracy_m": 8.0, "source": "gps"});
    assert_eq!(app.post_idempotent("/api/v1/identifications", &kamez, "k-6", &body).await.status, StatusCode::CREATED);
    app.clock.advance(chrono::Duration::minutes(1));
    let elbasan = app.login("elbasan.squad").await;
    let mut body = sighting(&id(7));
    body["location"] = json!({"lat": 41.1125, "lon": 20.0822, "accuracy_m": 8.0, "source": "gps"});
    assert_eq!(
        app.post_idempotent("/api/v1/identifications", &elbasan, "e-7", &body).await.status,
        StatusCode::CREATED
    );
}

fn ids(body: &Value) -> Vec<String> {
    body["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn lists_show_only_the_readers_scope_newest_first_and_page_stably() {
    let app = TestApp::spawn().await;
    seven_sightings(&app).await;
    let pmf = app.login("tirana.pmf").await;
    let all = app.get("/api/v1/identifications", Some(&pmf)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(ids(&all.body), (1..=5).rev().map(id).collect::<Vec<_>>(), "Tirana only, newest first");
    assert_eq!(all.body.get("next_cursor"), None);
    let elbasan = app.login("elbasan.duty").await;
    assert_eq!(ids(&app.get("/api/v1/identifications", Some(&elbasan)).await.body), vec![id(7)]);

    // Page by two; a sighting arriving meanwhile does not shift the pages.
    let first = app.get("/api/v1/identifications?limit=2", Some(&pmf)).await;
    assert_eq!(ids(&first.body), vec![id(5), id(4)]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let tirana = app.login("tirana.field").await;
    assert_eq!(
        app.post_idempotent("/api/v1/identifications", &tirana, "t-8", &sighting(&id(8))).await.status,
        StatusCode::CREATED
    );
    let second = app.get(&format!("/api/v1/identifications?limit=2&cursor={cursor}"), Some(&pmf)).await;
    assert_eq!(ids(&second.body), vec![id(3), id(2)]);
    let cursor = second.body["next_cursor"].as_str().unwrap().to_owned();
    let third = app.get(&format!("/api/v1/identifications?limit=2&cursor={cursor}"), Some(&pmf)).await;
    assert_eq!(ids(&third.body), vec![id(1)]);
    assert_eq!(third.body.get("next_cursor"), None);

    // One audit record per page read, naming what was shown.
    let lists: Vec<String> = app
        .db(|conn| {
            audit_log::table
                .filter(audit_log::action.eq("identification.list"))
                .order(audit_log::seq.asc())
                .select(audit_log::details)
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(lists.len(), 5);
    assert!(lists[2].contains(&id(5)) && lists[2].contains(&id(4)) && !lists[2].contains(&id(3)));
}

#[actix_web::test]
async fn list_filters_narrow_the_result() {
    let app = TestApp::spawn().await;
    seven_sightings(&app).await;
    let pmf = app.login("tirana.pmf").await;
    let get = |query: &'static str| {
        let app = &app;
        let pmf = pmf.clone();
        async move { app.get(&format!("/api/v1/identifications?{query}"), Some(&pmf)).await }
    };
    assert_eq!(ids(&get("risk_level=emergency").await.body), vec![id(3)]);
    assert_eq!(ids(&get("emergency=true").await.body), vec![id(3)]);
    assert_eq!(ids(&get("street_situation=begging").await.body), vec![id(3)]);
    // `_` is matched literally, not as a LIKE wildcard.
    assert!(ids(&get("street_situation=selling_item_").await.body).is_empty());
    assert_eq!(ids(&get("from=2026-03-02T02:00:00Z&to=2026-03-02T04:00:00Z").await.body), vec![id(3), id(2)]);
    assert_eq!(ids(&get("area=AL224").await.body).len(), 5);
    assert!(ids(&get("area=AL213").await.body).is_empty(), "Elbasan is outside the reader's scope");
    // A box around the second and third sightings only.
    assert_eq!(ids(&get("bbox=19.81,41.3240,19.83,41.3258").await.body), vec![id(3), id(2)]);
    let field = app.login("tirana.field").await;
    let mine = app.get("/api/v1/identifications?mine=true", Some(&field)).await;
    assert_eq!(ids(&mine.body).len(), 5);
}

#[actix_web::test]
async fn a_box_cannot_narrow_below_a_cell_for_coarse_readers() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    assert_eq!(
        app.post_idempotent("/api/v1/identifications", &field, "k-1", &sighting(ID)).await.status,
        StatusCode::CREATED
    );
    // A tiny box in the sighting's cell that does not contain the sighting itself.
    let tiny = "/api/v1/identifications?bbox=19.8200,41.3250,19.8202,41.3252";
    let pmf = app.login("tirana.pmf").await;
    assert!(ids(&app.get(tiny, Some(&pmf)).await.body).is_empty(), "precise readers filter precisely");
    let police = app.login("police.tirana").await;
    let coarse = app.get(tiny, Some(&police)).await;
    assert_eq!(ids(&coarse.body), vec![ID.to_owned()], "the box is widened to the whole cell");
    assert_eq!(coarse.body["items"][0]["location"]["precision"], "coarse");
}

#[actix_web::test]
async fn bad_list_filters_are_refused() {
    let app = TestApp::spawn().await;
    let pmf = app.login("tirana.pmf").await;
    for (query, field, code) in [
        ("limit=0", "limit", "out_of_range"),
        ("limit=201", "limit", "out_of_range"),
        ("area=XX", "area", "unknown_area"),
        ("bbox=1,2,3", "bbox", "invalid_format"),
        ("bbox=20,42,19,41", "bbox", "invalid_format"),
        ("cursor=not-a-cursor", "cursor", "invalid_cursor"),
        ("from=2026-03-02T05:00:00Z&to=2026-03-02T04:00:00Z", "to", "before_from"),
        ("street_situation=%25", "street_situation", "invalid_format"),
    ] {
        let res = app.get(&format!("/api/v1/identifications?{query}"), Some(&pmf)).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", res.body);
        assert_eq!(
            (res.body["errors"][0]["field"].as_str(), res.body["errors"][0]["code"].as_str()),
            (Some(field), Some(code)),
            "{query}"
        );
    }
    let national = app.login("ashdmf.analyst").await;
    assert_eq!(app.get("/api/v1/identifications", Some(&national)).await.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn the_map_is_geojson_coarsened_for_coarse_readers_and_audited() {
    let app = TestApp::spawn().await;
    seven_sightings(&app).await;
    let pmf = app.login("tirana.pmf").await;
    let map = app.get("/api/v1/identifications/geojson", Some(&pmf)).await;
    assert_eq!(map.status, StatusCode::OK, "{}", map.body);
    assert_eq!(map.headers.get("content-type").unwrap(), "application/geo+json");
    assert_eq!(map.body["type"], "FeatureCollection");
    let features = map.body["features"].as_array().unwrap();
    assert_eq!(features.len(), 5);
    assert_eq!(features[0]["id"], id(5));
    assert_eq!(
        features[0]["geometry"],
        json!({"type": "Point", "coordinates": [19.8187, 41.3225]}),
        "GeoJSON order is lon, lat"
    );
    assert_eq!(features[0]["properties"]["age_band"], "7-9");
    assert_eq!(map.body["truncated"], false);
    let two = app.get("/api/v1/identifications/geojson?limit=2", Some(&pmf)).await;
    assert_eq!((two.body["features"].as_array().unwrap().len(), two.body["truncated"].as_bool()), (2, Some(true)));

    let police = app.login("police.tirana").await;
    let coarse = app.get("/api/v1/identifications/geojson", Some(&police)).await;
    let features = coarse.body["features"].as_array().unwrap();
    assert_eq!(features.len(), 6, "county police: Tirana and Kamëz");
    for feature in features {
        assert_eq!(feature["properties"]["precision"], "coarse");
        assert_ne!(feature["geometry"]["coordinates"][0], 19.8187);
    }
    let maps: i64 = app
        .db(|conn| {
            audit_log::table.filter(audit_log::action.eq("identification.map")).count().get_result(conn).unwrap()
        })
        .await;
    assert_eq!(maps, 3);
}

#[actix_web::test]
async fn the_grid_counts_without_points_and_hides_small_national_cells() {
    let app = TestApp::spawn().await;
    seven_sightings(&app).await;
    let sum =
        |body: &Value| body["cells"].as_array().unwrap().iter().map(|c| c["count"].as_i64().unwrap()).sum::<i64>();
    let pmf = app.login("tirana.pmf").await;
    let grid = app.get("/api/v1/identifications/grid?zoom=12", Some(&pmf)).await;
    assert_eq!(grid.status, StatusCode::OK, "{}", grid.body);
    assert_eq!(sum(&grid.body), 5, "Tirana's five, within scope");
    assert_eq!(grid.body["min_count"], 1);
    let cell = &grid.body["cells"][0];
    assert!(cell["min_lat"].as_f64().unwrap() <= 41.3225 && 41.3265 < cell["max_lat"].as_f64().unwrap());
    // Filters apply to the grid as to the list.
    assert_eq!(sum(&app.get("/api/v1/identifications/grid?zoom=12&risk_level=emergency", Some(&pmf)).await.body), 1);

    // ASHDMF sees the whole country, but not cells a single child could be picked out of.
    let national = app.login("ashdmf.analyst").await;
    let country = app.get("/api/v1/identifications/grid?zoom=12", Some(&national)).await;
    assert_eq!(country.status, StatusCode::OK, "{}", country.body);
    assert_eq!(country.body["min_count"], 3);
    assert_eq!(
        country.body["cells"].as_array().unwrap().len(),
        1,
        "Kamëz's and Elbasan's single sightings are left out"
    );
    assert_eq!(sum(&country.body), 5);

    for (query, field) in [("zoom=1", "zoom"), ("zoom=16", "zoom")] {
        let res = app.get(&format!("/api/v1/identifications/grid?{query}"), Some(&pmf)).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["errors"][0]["field"], field);
    }
    let admin = app.login("tirana.admin").await;
    assert_eq!(app.get("/api/v1/identifications/grid?zoom=10", Some(&admin)).await.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn paging_breaks_ties_by_id_without_skipping() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    // Received in the same microsecond (the clock does not move).
    for n in 1..=5 {
        let res = app.post_idempotent("/api/v1/identifications", &token, &format!("t-{n}"), &sighting(&id(n))).await;
        assert_eq!(res.status, StatusCode::CREATED);
    }
    let pmf = app.login("tirana.pmf").await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/identifications?limit=2&cursor={c}"),
            None => "/api/v1/identifications?limit=2".to_owned(),
        };
        let page = app.get(&path, Some(&pmf)).await;
        seen.extend(ids(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, (1..=5).rev().map(id).collect::<Vec<_>>());
}

#[actix_web::test]
async fn grids_for_coarse_readers_count_cells_not_points() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    assert_eq!(
        app.post_idempotent("/api/v1/identifications", &field, "k-1", &sighting(ID)).await.status,
        StatusCode::CREATED
    );
    // At zoom 15 the exact point (lon 19.8187) and its coarse cell's centre (lon 19.821) fall in
    // neighbouring grid cells.
    let pmf = app.login("tirana.pmf").await;
    let exact = app.get("/api/v1/identifications/grid?zoom=15", Some(&pmf)).await;
    let cell = &exact.body["cells"][0];
    assert!(cell["min_lon"].as_f64().unwrap() <= 19.8187 && 19.8187 < cell["max_lon"].as_f64().unwrap(), "{cell}");
    let police = app.login("police.tirana").await;
    let coarse = app.get("/api/v1/identifications/grid?zoom=15", Some(&police)).await;
    let cell = &coarse.body["cells"][0];
    assert!(
        cell["min_lon"].as_f64().unwrap() > 19.8187,
        "the coarse reader's cell does not hold the exact point: {cell}"
    );
    assert!(cell["min_lon"].as_f64().unwrap() <= 19.821 && 19.821 < cell["max_lon"].as_f64().unwrap());
    // Paging parameters do not apply and are not refused.
    assert_eq!(app.get("/api/v1/identifications/grid?zoom=12&limit=5", Some(&pmf)).await.status, StatusCode::OK);
    let grids: i64 = app
        .db(|conn| {
            audit_log::table.filter(audit_log::action.eq("identification.grid")).count().get_result(conn).unwrap()
        })
        .await;
    assert_eq!(grids, 3);
}

#[actix_web::test]
async fn national_statistics_take_only_coarse_cuts() {
    let app = TestApp::spawn().await;
    let national = app.login("ashdmf.analyst").await;
    let ok = app
        .get(
            "/api/v1/identifications/grid?zoom=8&area=AL224&from=2026-03-01T00:00:00Z&to=2026-03-03T00:00:00Z",
            Some(&national),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    for (query, field, code) in [
        ("zoom=13", "zoom", "out_of_range"),
        ("zoom=8&risk_level=emergency", "risk_level", "not_allowed"),
        ("zoom=8&bbox=19,41,20,42", "bbox", "not_allowed"),
        ("zoom=8&from=2026-03-02T10:00:00Z", "from", "not_whole_day"),
    ] {
        let res = app.get(&format!("/api/v1/identifications/grid?{query}"), Some(&national)).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(
            (res.body["errors"][0]["field"].as_str(), res.body["errors"][0]["code"].as_str()),
            (Some(field), Some(code)),
            "{query}"
        );
    }
}
