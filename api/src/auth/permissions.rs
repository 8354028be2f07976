//! Which permissions each role grants. Data scope (agency, areas) is separate.

use std::collections::BTreeSet;

use terren_contract::{Permission, Role};

pub fn permissions_of(role: Role) -> &'static [Permission] {
    use Permission::*;
    match role {
        Role::FieldWorker => &[
            ReferenceRead,
            IdentificationsCreate,
            IdentificationsRead,
            LocationsReadPrecise,
            ChildrenReadNames,
            ChildrenEdit,
            ReferralsCreate,
            AlertsRaise,
        ],
        Role::DutyOfficer => &[
            ReferenceRead,
            AlertsRaise,
            IdentificationsRead,
            LocationsReadPrecise,
            ChildrenReadNames,
            ReferralsRespond,
            AlertsRespond,
        ],
        Role::Coordinator => &[
            ReferenceRead,
            IdentificationsCreate,
            IdentificationsRead,
            LocationsReadPrecise,
            ChildrenReadNames,
            ChildrenMerge,
            ChildrenEdit,
            ChildrenStatusSet,
            ReferralsCreate,
            ReferralsOverrideConsent,
            ReferralsRouteAnywhere,
            AlertsRaise,
            AlertsRespond,
            PlanningManage,
            StatisticsRead,
        ],
        Role::CaseManager => &[
            ReferenceRead,
            IdentificationsRead,
            LocationsReadPrecise,
            ChildrenReadNames,
            ChildrenReadSensitive,
            ChildrenEdit,
            ChildrenStatusSet,
            ReferralsCreate,
            ReferralsRespond,
            ReferralsOverrideConsent,
            ReferralsRouteAnywhere,
            AlertsRaise,
            AlertsRespond,
            StatisticsRead,
        ],
        // Sightings in their area, coarsened and without names or sensitive fields.
        Role::PartnerResponder => &[ReferenceRead, IdentificationsRead, ReferralsRespond, AlertsRespond],
        Role::AgencyAdmin => &[ReferenceRead, UsersManage, AgenciesManage, PlanningManage, StatisticsRead, AuditRead],
        Role::NationalViewer => &[ReferenceRead, StatisticsRead],
        Role::SystemAdmin => &[ReferenceRead, UsersManage, AgenciesManage, AreasManage, StatisticsRead, AuditRead],
    }
}

pub fn permissions_for(roles: &BTreeSet<Role>) -> BTreeSet<Permission> {
    roles.iter().flat_map(|role| permissions_of(*role).iter().copied()).collect()
}

/// Roles whose data scope is the whole country rather than their agency's areas.
pub fn has_national_scope(roles: &BTreeSet<Role>) -> bool {
    roles.contains(&Role::NationalViewer) || roles.contains(&Role::SystemAdmin)
}

/// Roles that only a system administrator may grant.
pub fn is_privileged(role: Role) -> bool {
    matches!(role, Role::SystemAdmin | Role::NationalViewer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_viewers_never_read_individual_records() {
        let perms = permissions_for(&BTreeSet::from([Role::NationalViewer]));
        assert!(perms.contains(&Permission::StatisticsRead));
        for individual in [
            Permission::IdentificationsRead,
            Permission::ChildrenReadNames,
            Permission::LocationsReadPrecise,
            Permission::ChildrenReadSensitive,
        ] {
            assert!(!perms.contains(&individual), "{individual:?}");
        }
    }

    #[test]
    fn only_case_managers_see_sensitive_fields_and_every_role_reads_reference_data() {
        for role in Role::ALL {
            let perms = permissions_of(role);
            assert!(perms.contains(&Permission::ReferenceRead), "{role:?}");
            assert_eq!(perms.contains(&Permission::ChildrenReadSensitive), role == Role::CaseManager, "{role:?}");
        }
    }
}
