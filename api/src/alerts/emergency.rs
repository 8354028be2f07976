//! The emergency job: the alert an emergency sighting raises, for the agency that answers for the
//! child at that place.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use terren_contract::alerts::{AlertEventKind, Severity};

use super::service::{self, add_event};
use crate::db::schema::alerts;
use crate::db::{DbConnection, Tx};
use crate::http::ApiResult;
use crate::ids::{AgencyId, AlertId};
use crate::outbox::{JobPayload, kinds};

/// The job that raises the alert of an emergency sighting. The alert is made from the stored
/// sighting; the area codes, risk level and recorder are what the sighting said when the job was
/// queued, kept in the payload for whoever reads the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyJob {
    pub identification_id: String,
    pub municipality_code: Option<String>,
    pub admin_unit_code: Option<String>,
    #[serde(default)]
    pub risk_level: String,
    #[serde(default)]
    pub recorded_by: String,
}

impl JobPayload for EmergencyJob {
    const KIND: &'static str = kinds::IDENTIFICATION_EMERGENCY;

    fn dedup_key(&self) -> String {
        format!("{}:{}", Self::KIND, self.identification_id)
    }
}

/// The agency an emergency sighting's alert goes to: the one referral routing would choose for
/// this person at this place (the child-protection unit of the territory, per the handbook),
/// else the 24/7 agency answering for the place, else the recorder's own.
fn emergency_agency(
    conn: &mut DbConnection,
    index: &crate::territory::index::TerritoryIndex,
    place: &crate::referrals::routing::Place,
    subject_type: &str,
    recorder_agency: &AgencyId,
) -> ApiResult<AgencyId> {
    use crate::referrals::routing;
    let case = routing::Case { place, subject_type, services: &[] };
    if let Some(routed) = routing::route(conn, index, case, &[])? {
        return Ok(routed.agency.id);
    }
    let area = place.admin_unit_id.as_ref().or(place.municipality_id.as_ref()).and_then(|id| index.find_id(id));
    let responsible = match area {
        Some(area) => service::responsible_agency(conn, index, &index.area(area).code)?,
        None => None,
    };
    Ok(responsible.unwrap_or_else(|| recorder_agency.clone()))
}

/// Raises the alert for an emergency identification, for the agency answering for the child at
/// that place.
pub fn raise_for_identification(
    tx: &mut Tx<'_>,
    index: &crate::territory::index::TerritoryIndex,
    job: &EmergencyJob,
    at: NaiveDateTime,
) -> ApiResult<AlertId> {
    use crate::db::schema::{identification_links, identifications, referrals};
    let identification_id = job.identification_id.clone();
    let (recorded_by, recorder_agency, municipality_id, admin_unit_id, risk_level, subject_type): (
        String,
        AgencyId,
        Option<String>,
        Option<String>,
        String,
        String,
    ) = identifications::table
        .filter(identifications::id.eq(&identification_id))
        .select((
            identifications::recorded_by,
            identifications::agency_id,
            identifications::municipality_id,
            identifications::admin_unit_id,
            identifications::risk_level,
            identifications::subject_type,
        ))
        .get_result(tx.conn())?;
    let place = crate::referrals::routing::Place {
        municipality_id: municipality_id.clone(),
        admin_unit_id: admin_unit_id.clone(),
    };
    let agency_id = emergency_agency(tx, index, &place, &subject_type, &recorder_agency)?;
    let area_id = admin_unit_id.or(municipality_id);
    let place_name = area_id.as_ref().and_then(|id| index.find_id(id)).map(|a| index.area(a).name.clone());
    let profile_id: Option<String> = identification_links::table
        .filter(identification_links::identification_id.eq(&identification_id))
        .select(identification_links::profile_id)
        .get_result(tx.conn())
        .optional()?;
    let title = match &place_name {
        Some(name) => format!("Fëmijë në rrezik / Child at risk — {name}"),
        None => "Fëmijë në rrezik / Child at risk".to_owned(),
    };
    let actor = crate::audit::Actor { user_id: Some(recorded_by), device_id: None, ip: None };
    // An emergency referral about this sighting may have paged the same agency already.
    let referral_keys: Vec<String> = referrals::table
        .filter(referrals::identification_id.eq(&identification_id))
        .select(referrals::id)
        .load::<String>(tx.conn())?
        .into_iter()
        .map(|id| format!("referral:{id}"))
        .collect();
    let paged: Option<AlertId> = alerts::table
        .filter(alerts::open_key.eq_any(&referral_keys))
        .filter(alerts::agency_id.eq(&agency_id))
        .select(alerts::id)
        .first(tx.conn())
        .optional()?;
    if let Some(alert_id) = paged {
        add_event(
            tx,
            &alert_id,
            at,
            AlertEventKind::IdentificationLinked,
            actor.user_id.as_deref(),
            None,
            json!({ "identification_id": identification_id }),
        )?;
        return Ok(alert_id);
    }
    let new = service::NewAlert {
        severity: if risk_level == "emergency" { Severity::Emergency } else { Severity::High },
        source: terren_contract::alerts::AlertSource::FieldIdentification,
        agency_id,
        area_id,
        title,
        details: None,
        dedup_key: Some(format!("identification:{identification_id}")),
        identification_id: Some(identification_id),
        profile_id,
        referral_id: None,
        policy: None,
    };
    let (id, _) = service::raise(tx, &actor, new, at)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::testing::assert_stored_form;

    #[test]
    fn the_emergency_job_keeps_its_stored_form() {
        let job = EmergencyJob {
            identification_id: "0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a".into(),
            municipality_code: Some("AL224".into()),
            admin_unit_code: None,
            risk_level: "emergency".into(),
            recorded_by: "0195f3a2-6b00-7000-8000-0000000000u1".into(),
        };
        assert_stored_form(
            r#"{"admin_unit_code":null,"identification_id":"0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a","municipality_code":"AL224","recorded_by":"0195f3a2-6b00-7000-8000-0000000000u1","risk_level":"emergency"}"#,
            &job,
        );
        assert_eq!(job.dedup_key(), "identification.emergency:0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a");
    }
}
