//! The inbox's paging.

use super::*;

#[actix_web::test]
async fn the_inbox_pages_newest_first_through_referrals_sent_at_the_same_instant() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, SIGHTING, |_| {}).await;
    // Three sent at one instant, then two a minute apart.
    let mut sent = Vec::new();
    for n in 0..5 {
        if n >= 3 {
            app.clock.advance(Duration::minutes(1));
        }
        let id = format!("019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6c{n:02}");
        refer(&app, &field, &referral(&id, &sighting, "medium")).await;
        sent.push(id);
    }
    let pmf = app.login("tirana.pmf").await;
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/referrals?box=inbox&limit=2&cursor={cursor}"),
            None => "/api/v1/referrals?box=inbox&limit=2".to_owned(),
        };
        let page = app.get(&path, Some(&pmf)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(page.body["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    // Newest first; among those sent at the same instant, the greater id first.
    let expected: Vec<String> = [4, 3, 2, 1, 0].into_iter().map(|n| sent[n].clone()).collect();
    assert_eq!(seen, expected);
}
