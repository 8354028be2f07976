//! What one sync page sends, collection by collection.

use terren_contract::sync::{
    AlertChanges, HotspotChanges, IdentificationChanges, ProfileChanges, ReferralChanges, RoundChanges,
};
use uuid::Uuid;

use crate::changes::kinds;

#[derive(Default)]
pub struct Answer {
    pub referrals: ReferralChanges,
    pub alerts: AlertChanges,
    pub hotspots: HotspotChanges,
    pub identifications: IdentificationChanges,
    pub profiles: ProfileChanges,
    pub rounds: RoundChanges,
}

impl Answer {
    /// Tells the phone to drop the record `id` of collection `kind`.
    pub fn remove(&mut self, kind: &str, id: &str) {
        let Ok(id) = id.parse::<Uuid>() else { return };
        let removed = match kind {
            kinds::REFERRAL => &mut self.referrals.remove,
            kinds::ALERT => &mut self.alerts.remove,
            kinds::HOTSPOT => &mut self.hotspots.remove,
            kinds::IDENTIFICATION => &mut self.identifications.remove,
            kinds::PROFILE => &mut self.profiles.remove,
            kinds::ROUND => &mut self.rounds.remove,
            _ => return,
        };
        if !removed.contains(&id) {
            removed.push(id);
        }
    }
}
