//! A phone's copy of its working set, kept the way the contract tells an app to keep it, and
//! checked against the server.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use serde_json::Value;
use terren_contract::sync::collection_checksum;
use uuid::Uuid;

use crate::harness::TestApp;

/// Each collection of a sync page and the endpoint that shows one of its records.
pub const COLLECTIONS: [(&str, &str); 6] = [
    ("referrals", "/api/v1/referrals"),
    ("alerts", "/api/v1/alerts"),
    ("hotspots", "/api/v1/hotspots"),
    ("identifications", "/api/v1/identifications"),
    ("profiles", "/api/v1/child-profiles"),
    ("rounds", "/api/v1/rounds"),
];

#[derive(Debug, Default)]
pub struct Phone {
    pub cursor: Option<String>,
    pub held: BTreeMap<&'static str, BTreeMap<String, Value>>,
    /// The pages of the last sync.
    pub pages: Vec<Value>,
}

impl Phone {
    /// Syncs until nothing more follows, `limit` records a page, checking each collection's
    /// checksum at the end.
    pub async fn sync(&mut self, app: &TestApp, token: &str, limit: u32) {
        self.pages.clear();
        loop {
            app.db(|_| ()).await;
            let mut path = format!("/api/v1/sync?limit={limit}");
            if let Some(cursor) = &self.cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let res = app.get(&path, Some(token)).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            let page = res.body;
            if page["reset"] == true {
                self.held.clear();
            }
            for (collection, _) in COLLECTIONS {
                let held = self.held.entry(collection).or_default();
                for id in page[collection]["remove"].as_array().unwrap() {
                    held.remove(id.as_str().unwrap());
                }
                for record in page[collection]["put"].as_array().unwrap() {
                    held.insert(record["id"].as_str().unwrap().to_owned(), record.clone());
                }
            }
            self.cursor = Some(page["cursor"].as_str().unwrap().to_owned());
            let more = page["has_more"] == true;
            self.pages.push(page);
            if !more {
                break;
            }
        }
        let last = self.pages.last().unwrap();
        for (collection, _) in COLLECTIONS {
            assert_eq!(
                last["checksums"][collection],
                self.checksum(collection),
                "{collection}: {:?}",
                self.ids(collection)
            );
        }
    }

    pub fn ids(&self, collection: &str) -> Vec<String> {
        self.held.get(collection).map(|held| held.keys().cloned().collect()).unwrap_or_default()
    }

    pub fn record(&self, collection: &str, id: &str) -> &Value {
        &self.held[collection][id]
    }

    fn checksum(&self, collection: &str) -> u32 {
        let ids: Vec<Uuid> = self.ids(collection).iter().map(|id| id.parse().unwrap()).collect();
        collection_checksum(&ids)
    }

    /// What was put or removed over the last sync, per collection.
    pub fn changed(&self, collection: &str, list: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .pages
            .iter()
            .flat_map(|page| page[collection][list].as_array().unwrap().clone())
            .map(|item| item.get("id").unwrap_or(&item).as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }

    /// Holds exactly what the server would show this person now: what a fresh full sync gives,
    /// and each record as its own endpoint shows it.
    pub async fn assert_current(&self, app: &TestApp, token: &str) {
        let mut fresh = Phone::default();
        fresh.sync(app, token, 500).await;
        for (collection, endpoint) in COLLECTIONS {
            assert_eq!(self.ids(collection), fresh.ids(collection), "{collection}: nothing more, nothing missing");
            for id in self.ids(collection) {
                let one = app.get(&format!("{endpoint}/{id}"), Some(token)).await;
                assert_eq!(one.status, StatusCode::OK, "{collection} {id}: {}", one.body);
                assert_eq!(&one.body, self.record(collection, &id), "{collection} {id} as its endpoint shows it");
            }
        }
    }
}
