use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::harness::TestApp;

fn codes(body: &Value) -> Vec<String> {
    body.as_array().unwrap().iter().map(|a| a["code"].as_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn all_counties_municipalities_and_the_units_of_tirana_kamez_elbasan() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let counties = app.get("/api/v1/areas?level=county", Some(&token)).await;
    assert_eq!(counties.body.as_array().unwrap().len(), 12);
    let municipalities = app.get("/api/v1/areas?level=municipality", Some(&token)).await;
    assert_eq!(municipalities.body.as_array().unwrap().len(), 61);

    let tirana = app.get("/api/v1/areas?parent=AL224", Some(&token)).await;
    let units = tirana.body.as_array().unwrap();
    assert_eq!(units.len(), 27, "Tirana has 24 administrative units and 3 lagje");
    let names: Vec<&str> = units.iter().map(|u| u["name"].as_str().unwrap()).collect();
    for expected in [
        "Njësia Administrative Nr. 1",
        "Njësia Administrative Nr. 11",
        "Lagjja 14",
        "Bërzhitë",
        "Zall-Herr",
        "Shëngjergj",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let kamez = app.get("/api/v1/areas?parent=AL221", Some(&token)).await;
    assert_eq!(codes(&kamez.body).len(), 2);
    let elbasan = app.get("/api/v1/areas?parent=AL213", Some(&token)).await;
    assert!(codes(&elbasan.body).len() >= 10);
}

#[actix_web::test]
async fn area_search_ignores_diacritics_and_knows_aliases() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let res = app.get("/api/v1/areas?q=kamez&level=municipality", Some(&token)).await;
    assert_eq!(codes(&res.body), vec!["AL221"]);
    assert_eq!(res.body[0]["name"], "Kamëz");
    // "Zall Herr" is how official tables sometimes spell Zall-Herr; "Berzhite" drops the ë.
    let res = app.get("/api/v1/areas?q=Berzhite", Some(&token)).await;
    assert_eq!(res.body[0]["name"], "Bërzhitë");
    let res = app.get("/api/v1/areas?q=Dimal", Some(&token)).await;
    assert_eq!(res.body[0]["name"], "Ura Vajgurore");
}

#[actix_web::test]
async fn the_area_tree_nests_counties_municipalities_and_units() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let tree = app.get("/api/v1/areas?tree=true", Some(&token)).await;
    let counties = tree.body.as_array().unwrap();
    assert_eq!(counties.len(), 12);
    let tirana_county = counties.iter().find(|c| c["code"] == "AL-11").unwrap();
    let municipalities = tirana_county["children"].as_array().unwrap();
    assert_eq!(municipalities.len(), 5, "Tiranë county: Tiranë, Kamëz, Vorë, Kavajë, Rrogozhinë");
    let tirana = municipalities.iter().find(|m| m["code"] == "AL224").unwrap();
    assert_eq!(tirana["children"].as_array().unwrap().len(), 27);
    let filtered = app.get("/api/v1/areas?tree=true&q=paskuqan", Some(&token)).await;
    assert_eq!(filtered.body[0]["code"], "AL-11");
    assert_eq!(filtered.body[0]["children"][0]["code"], "AL221");
    assert_eq!(filtered.body[0]["children"][0]["children"][0]["name"], "Paskuqan");
}

#[actix_web::test]
async fn locate_without_boundaries_uses_the_nearest_centroid_and_says_so() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    // Skanderbeg Square.
    let res = app.get("/api/v1/areas/locate?lat=41.3275&lon=19.8187", Some(&token)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["municipality"]["code"], "AL224");
    assert_eq!(res.body["county"]["code"], "AL-11");
    assert_eq!(res.body["method"], "nearest_centroid");
    assert_eq!(res.body["municipality"]["method"], "nearest_centroid");
    assert!(res.body["admin_unit"]["code"].as_str().unwrap().starts_with("AL224-"));
    // Three hundred metres north of the square: still Tiranë (nearer the city's unit centroids
    // than Kamëz's), although Kamëz's municipality centroid is nearer than Tiranë's.
    let res = app.get("/api/v1/areas/locate?lat=41.3305&lon=19.8187", Some(&token)).await;
    assert_eq!(res.body["municipality"]["code"], "AL224", "{}", res.body);
    // Rome is far from every Albanian centroid.
    let res = app.get("/api/v1/areas/locate?lat=41.9&lon=12.5", Some(&token)).await;
    assert_eq!(res.body["method"], "outside");
    assert_eq!(res.body["municipality"], Value::Null);
}

#[actix_web::test]
async fn bad_coordinates_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    for (query, field) in
        [("lat=91&lon=19", "lat"), ("lat=41&lon=-180.5", "lon"), ("lat=NaN&lon=19", "lat"), ("lat=41&lon=inf", "lon")]
    {
        let res = app.get(&format!("/api/v1/areas/locate?{query}"), Some(&token)).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(res.body["errors"][0]["field"], field, "{query}");
        assert_eq!(res.body["errors"][0]["code"], "out_of_range");
    }
    let res = app.get("/api/v1/areas/locate?lat=forty&lon=19", Some(&token)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.body["code"], "invalid_query");
    let res = app.get("/api/v1/areas/locate?lat=41", Some(&token)).await;
    assert_eq!(res.body["code"], "invalid_query");
}

#[actix_web::test]
async fn vocabularies_carry_every_domain_list_in_both_languages_with_an_etag() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let res = app.get("/api/v1/vocabularies", Some(&token)).await;
    assert_eq!(res.status, StatusCode::OK);
    let etag = res.headers.get("etag").unwrap().to_str().unwrap().to_owned();
    assert!(res.headers.get("cache-control").unwrap().to_str().unwrap().contains("private"));
    let list = res.body["vocabularies"].as_array().unwrap();
    let find =
        |name: &str| list.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("{name}"))["entries"].clone();
    let codes = |name: &str| {
        find(name).as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(codes("age_band"), vec!["0-3", "4-6", "7-9", "10-12", "13-15", "16-18", "unknown"]);
    assert_eq!(codes("risk_level"), vec!["low", "medium", "high", "emergency"]);
    assert_eq!(codes("problem_category").len(), 14);
    assert_eq!(codes("identifier_type").len(), 14);
    assert_eq!(codes("referral_outcome").len(), 14);
    assert_eq!(
        codes("case_closure_reason"),
        vec!["turned_18", "risk_reduced", "out_of_risk", "child_died", "moved_residence"]
    );
    assert!(codes("street_situation").contains(&"selling_items".to_owned()));
    for name in [
        "sex",
        "ethnicity",
        "residence_origin",
        "protection_measure",
        "exploitation_form",
        "trafficking_risk_factor",
        "agency_type",
        "role",
    ] {
        for entry in find(name).as_array().unwrap() {
            assert!(!entry["sq"].as_str().unwrap().is_empty() && !entry["en"].as_str().unwrap().is_empty(), "{name}");
        }
    }
    assert_eq!(find("sex")[0], json!({"code": "female", "sq": "Femër", "en": "Female", "active": true}));

    let cached = app
        .request(
            TestRequest::get()
                .uri("/api/v1/vocabularies")
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("If-None-Match", etag.clone())),
        )
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    let stale = app
        .request(
            TestRequest::get()
                .uri("/api/v1/vocabularies")
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("If-None-Match", "\"something-else\"")),
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK);
}

#[actix_web::test]
async fn seeding_again_adds_nothing_and_keeps_edits() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let agencies = app.get("/api/v1/agencies?q=QKT", Some(&admin)).await;
    let qkt = agencies.body.as_array().unwrap().iter().find(|a| a["code"] == "AL224-QKT").unwrap().clone();
    let id = qkt["id"].as_str().unwrap();
    let edited = app
        .patch(
            &format!("/api/v1/agencies/{id}"),
            Some(&admin),
            &json!({"version": qkt["version"], "phone": "+355 4 000 0000"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);

    let db = app.state.db.clone();
    let at = app.clock_naive();
    let report = actix_web::rt::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        terren_api::seed::seed_reference(&mut conn, at).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(report.total(), 0, "{report:?}");
    let after = app.get(&format!("/api/v1/agencies/{id}"), Some(&admin)).await;
    assert_eq!(after.body["phone"], "+355 4 000 0000");
    let all = app.get("/api/v1/agencies?include_inactive=true", Some(&admin)).await;
    assert_eq!(all.body.as_array().unwrap().len(), 131);
}
