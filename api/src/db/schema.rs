// Mirrors migrations/{postgres,sqlite}; `tests/schema.rs` checks that both backends agree with it.

diesel::table! {
    area_boundaries (id) {
        id -> Text,
        level -> Text,
        source_name -> Text,
        source_feature_id -> Nullable<Text>,
        geometry -> Text,
        min_lat -> Double,
        min_lon -> Double,
        max_lat -> Double,
        max_lon -> Double,
        vertex_count -> Integer,
        imported_at -> Timestamp,
    }
}

diesel::table! {
    areas (id) {
        id -> Text,
        code -> Text,
        level -> Text,
        kind -> Text,
        name -> Text,
        name_folded -> Text,
        parent_id -> Nullable<Text>,
        centroid_lat -> Double,
        centroid_lon -> Double,
        centroid_approximate -> Bool,
        boundary_id -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    area_aliases (area_id, alias) {
        area_id -> Text,
        alias -> Text,
        alias_folded -> Text,
        is_code -> Bool,
    }
}

diesel::table! {
    agencies (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        name_en -> Nullable<Text>,
        agency_type -> Text,
        municipality_id -> Nullable<Text>,
        parent_id -> Nullable<Text>,
        address -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        hours -> Nullable<Text>,
        is_24_7 -> Bool,
        capacity -> Nullable<Integer>,
        time_zone -> Text,
        notes -> Nullable<Text>,
        active -> Bool,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        occupied -> Nullable<Integer>,
        occupancy_updated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    agency_areas (agency_id, area_id) {
        agency_id -> Text,
        area_id -> Text,
    }
}

diesel::table! {
    vocabulary_entries (vocabulary, code) {
        vocabulary -> Text,
        code -> Text,
        label_sq -> Text,
        label_en -> Text,
        sort_order -> Integer,
        active -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        display_name -> Text,
        agency_id -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        password_hash -> Text,
        must_change_password -> Bool,
        disabled_at -> Nullable<Timestamp>,
        password_changed_at -> Timestamp,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        device_id -> Text,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_pending (id) {
        id -> Text,
        occurred_at -> Timestamp,
        actor_user_id -> Nullable<Text>,
        actor_device_id -> Nullable<Text>,
        actor_ip -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        details -> Text,
    }
}

diesel::table! {
    change_pending (id) {
        id -> Text,
        record_kind -> Text,
        record_id -> Text,
    }
}

diesel::table! {
    change_log (seq) {
        seq -> BigInt,
        record_kind -> Text,
        record_id -> Text,
        sealed_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        seq -> BigInt,
        occurred_at -> Timestamp,
        actor_user_id -> Nullable<Text>,
        actor_device_id -> Nullable<Text>,
        actor_ip -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::joinable!(areas -> area_boundaries (boundary_id));
diesel::joinable!(area_aliases -> areas (area_id));
diesel::joinable!(agency_areas -> agencies (agency_id));
diesel::joinable!(agency_areas -> areas (area_id));
diesel::joinable!(users -> agencies (agency_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));

diesel::allow_tables_to_appear_in_same_query!(
    area_boundaries,
    areas,
    area_aliases,
    agencies,
    agency_areas,
    vocabulary_entries,
    users,
    user_roles,
    sessions,
    refresh_tokens,
    audit_log,
    audit_pending,
    change_log,
    change_pending,
    idempotency_keys,
    outbox_jobs,
    identifications,
    child_profiles,
    child_profile_names,
    child_profile_name_keys,
    profile_reference_counters,
    identification_links,
    child_profile_merges,
    schedules,
    schedule_revisions,
    schedule_overrides,
    swap_requests,
    calendar_feeds,
    devices,
    notification_rules,
    webhook_endpoints,
    escalation_policies,
    alerts,
    alert_events,
    notification_attempts,
    referral_routes,
    referral_deadline_policies,
    referrals,
    referral_deadlines,
    referral_events,
    hotspots,
    teams,
    team_members,
    round_series,
    rounds,
    round_stops,
    planning_policies,
    lifeline_counters,
    sms_inbound,
    protection_cases,
    protection_measures,
    dhis2_mapping,
    dhis2_cell_mappings,
    dhis2_org_units,
);

diesel::table! {
    idempotency_keys (user_id, idempotency_key) {
        user_id -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    outbox_jobs (id) {
        id -> Text,
        kind -> Text,
        payload -> Text,
        dedup_key -> Nullable<Text>,
        due_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        locked_by -> Nullable<Text>,
        done_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    identifications (id) {
        id -> Text,
        recorded_by -> Text,
        agency_id -> Text,
        device_id -> Text,
        observed_at -> Timestamp,
        received_at -> Timestamp,
        lat -> Nullable<Double>,
        lon -> Nullable<Double>,
        accuracy_m -> Nullable<Double>,
        altitude_m -> Nullable<Double>,
        fix_time -> Nullable<Timestamp>,
        location_source -> Nullable<Text>,
        mock_location -> Bool,
        location_not_collected_reason -> Nullable<Text>,
        place_description -> Nullable<Text>,
        county_id -> Nullable<Text>,
        municipality_id -> Nullable<Text>,
        admin_unit_id -> Nullable<Text>,
        locate_method -> Text,
        cell_key -> Nullable<Text>,
        subject_type -> Text,
        estimated_age -> Nullable<Integer>,
        birth_year -> Nullable<Integer>,
        age_band -> Text,
        sex -> Text,
        nationality -> Nullable<Text>,
        languages -> Text,
        ethnicity -> Nullable<Text>,
        residence_origin -> Nullable<Text>,
        street_situations -> Text,
        accompanied_by -> Nullable<Text>,
        risk_factors -> Text,
        exploitation_indicators -> Text,
        visible_conditions -> Text,
        immediate_needs -> Text,
        actions_taken -> Text,
        consent_given_by -> Nullable<Text>,
        risk_level -> Text,
        emergency -> Bool,
        notes -> Nullable<Text>,
        content_hash -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        name_as_told -> Nullable<Text>,
        location_coarsened_at -> Nullable<Timestamp>,
        round_id -> Nullable<Text>,
        provisional -> Bool,
    }
}

diesel::joinable!(idempotency_keys -> users (user_id));
diesel::joinable!(identifications -> users (recorded_by));
diesel::joinable!(identifications -> agencies (agency_id));

diesel::table! {
    child_profiles (id) {
        id -> Text,
        reference -> Text,
        subject_type -> Text,
        status -> Text,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        sex -> Text,
        birth_year -> Nullable<Integer>,
        birth_year_estimated -> Bool,
        nationality -> Nullable<Text>,
        languages -> Text,
        residence_origin -> Nullable<Text>,
        family_contacts -> Nullable<Text>,
        municipality_id -> Nullable<Text>,
        admin_unit_id -> Nullable<Text>,
        agency_id -> Text,
        created_by -> Text,
        merged_into -> Nullable<Text>,
        sightings_count -> Integer,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    child_profile_names (profile_id, folded) {
        profile_id -> Text,
        folded -> Text,
        name -> Text,
        source -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    child_profile_name_keys (sound_key, profile_id) {
        sound_key -> Text,
        profile_id -> Text,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    profile_reference_counters (prefix) {
        prefix -> Text,
        last_value -> Integer,
    }
}

diesel::table! {
    identification_links (identification_id) {
        identification_id -> Text,
        profile_id -> Text,
        cell_key -> Nullable<Text>,
        lat -> Nullable<Double>,
        lon -> Nullable<Double>,
        accompanied_by -> Nullable<Text>,
        observed_at -> Timestamp,
        linked_by -> Text,
        linked_at -> Timestamp,
    }
}

diesel::table! {
    child_profile_merges (id) {
        id -> Text,
        survivor_id -> Text,
        merged_id -> Text,
        moved_identifications -> Text,
        moved_names -> Text,
        reason -> Text,
        merged_by -> Text,
        merged_at -> Timestamp,
        unmerged_by -> Nullable<Text>,
        unmerged_at -> Nullable<Timestamp>,
        unmerge_reason -> Nullable<Text>,
    }
}

diesel::joinable!(child_profile_names -> child_profiles (profile_id));
diesel::joinable!(child_profile_name_keys -> child_profiles (profile_id));
diesel::joinable!(identification_links -> child_profiles (profile_id));
diesel::joinable!(identification_links -> identifications (identification_id));

diesel::table! {
    schedules (id) {
        id -> Text,
        agency_id -> Text,
        name -> Text,
        time_zone -> Text,
        version -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    schedule_revisions (id) {
        id -> Text,
        schedule_id -> Text,
        revision -> Integer,
        effective_from -> Timestamp,
        layers -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    schedule_overrides (id) {
        id -> Text,
        schedule_id -> Text,
        user_id -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        reason -> Nullable<Text>,
        swap_request_id -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        cancelled_at -> Nullable<Timestamp>,
        cancelled_by -> Nullable<Text>,
    }
}

diesel::table! {
    swap_requests (id) {
        id -> Text,
        schedule_id -> Text,
        offered_by -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        note -> Nullable<Text>,
        state -> Text,
        needs_approval -> Bool,
        taken_by -> Nullable<Text>,
        taken_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    calendar_feeds (id) {
        id -> Text,
        token_hash -> Text,
        schedule_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        user_id -> Text,
        device_id -> Text,
        platform -> Text,
        push_token -> Text,
        app_version -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
    }
}

diesel::table! {
    notification_rules (user_id) {
        user_id -> Text,
        push -> Bool,
        sms_after_minutes -> Nullable<Integer>,
        callback_phone -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        agency_id -> Text,
        name -> Text,
        url -> Text,
        secret -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    escalation_policies (agency_id) {
        agency_id -> Text,
        policy -> Text,
        version -> Integer,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        agency_id -> Text,
        area_id -> Nullable<Text>,
        severity -> Text,
        source -> Text,
        state -> Text,
        title -> Text,
        details -> Nullable<Text>,
        dedup_key -> Nullable<Text>,
        open_key -> Nullable<Text>,
        identification_id -> Nullable<Text>,
        profile_id -> Nullable<Text>,
        policy -> Text,
        escalation_step -> Integer,
        escalation_round -> Integer,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        acknowledged_by -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
        closed_by -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        version -> Integer,
        updated_at -> Timestamp,
        referral_id -> Nullable<Text>,
        unreachable_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    alert_events (id) {
        id -> Text,
        alert_id -> Text,
        occurred_at -> Timestamp,
        kind -> Text,
        actor_user_id -> Nullable<Text>,
        note -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    notification_attempts (id) {
        id -> Text,
        alert_id -> Text,
        job_id -> Text,
        step -> Integer,
        round -> Integer,
        recipient_user_id -> Nullable<Text>,
        recipient_label -> Text,
        channel -> Text,
        address_hint -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        tries -> Integer,
        http_status -> Nullable<Integer>,
        provider_reference -> Nullable<Text>,
        provider_response -> Nullable<Text>,
        error -> Nullable<Text>,
        outcome -> Nullable<Text>,
    }
}

diesel::joinable!(schedules -> agencies (agency_id));
diesel::joinable!(schedule_revisions -> schedules (schedule_id));
diesel::joinable!(schedule_overrides -> schedules (schedule_id));
diesel::joinable!(swap_requests -> schedules (schedule_id));
diesel::joinable!(devices -> users (user_id));
diesel::joinable!(notification_rules -> users (user_id));
diesel::joinable!(webhook_endpoints -> agencies (agency_id));
diesel::joinable!(escalation_policies -> agencies (agency_id));
diesel::joinable!(alerts -> agencies (agency_id));
diesel::joinable!(alert_events -> alerts (alert_id));
diesel::joinable!(notification_attempts -> alerts (alert_id));

diesel::table! {
    referral_routes (id) {
        id -> Text,
        route_key -> Text,
        municipality_id -> Nullable<Text>,
        subject_type -> Text,
        service -> Nullable<Text>,
        agency_types -> Text,
        agency_id -> Nullable<Text>,
        notes -> Nullable<Text>,
        version -> Integer,
        updated_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    referral_deadline_policies (scope_key) {
        scope_key -> Text,
        municipality_id -> Nullable<Text>,
        policy -> Text,
        version -> Integer,
        updated_by -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    referrals (id) {
        id -> Text,
        chain_id -> Text,
        origin_agency_id -> Text,
        origin_user_id -> Text,
        forwarded_from -> Nullable<Text>,
        forwarded_to -> Nullable<Text>,
        identification_id -> Nullable<Text>,
        profile_id -> Nullable<Text>,
        subject_type -> Text,
        age_band -> Text,
        sex -> Text,
        municipality_id -> Nullable<Text>,
        admin_unit_id -> Nullable<Text>,
        street_situations -> Text,
        risk_level -> Nullable<Text>,
        from_agency_id -> Text,
        to_agency_id -> Text,
        routing_method -> Text,
        route_id -> Nullable<Text>,
        priority -> Text,
        reasons -> Text,
        services -> Text,
        notes -> Nullable<Text>,
        share -> Text,
        consent_given_by -> Nullable<Text>,
        consent_override_reason -> Nullable<Text>,
        status -> Text,
        outcome -> Nullable<Text>,
        decline_reason -> Nullable<Text>,
        suggested_agency_id -> Nullable<Text>,
        created_by -> Text,
        device_id -> Text,
        made_at -> Nullable<Timestamp>,
        sent_at -> Timestamp,
        acknowledged_by -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
        responded_by -> Nullable<Text>,
        responded_at -> Nullable<Timestamp>,
        contacted_at -> Nullable<Timestamp>,
        ended_by -> Nullable<Text>,
        ended_at -> Nullable<Timestamp>,
        next_due_at -> Nullable<Timestamp>,
        content_hash -> Text,
        version -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    referral_deadlines (referral_id, kind) {
        referral_id -> Text,
        kind -> Text,
        due_at -> Timestamp,
        met_at -> Nullable<Timestamp>,
        breached_at -> Nullable<Timestamp>,
        void_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    referral_events (id) {
        id -> Text,
        referral_id -> Text,
        occurred_at -> Timestamp,
        kind -> Text,
        actor_user_id -> Nullable<Text>,
        note -> Nullable<Text>,
        details -> Text,
    }
}

diesel::joinable!(referral_deadlines -> referrals (referral_id));
diesel::joinable!(referral_events -> referrals (referral_id));

diesel::table! {
    hotspots (id) {
        id -> Text,
        agency_id -> Text,
        name -> Text,
        kind -> Text,
        shape -> Text,
        centroid_lat -> Double,
        centroid_lon -> Double,
        min_lat -> Double,
        min_lon -> Double,
        max_lat -> Double,
        max_lon -> Double,
        municipality_id -> Nullable<Text>,
        admin_unit_id -> Nullable<Text>,
        notes -> Nullable<Text>,
        active -> Bool,
        version -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    teams (id) {
        id -> Text,
        agency_id -> Text,
        name -> Text,
        kind -> Text,
        home_area_id -> Nullable<Text>,
        notes -> Nullable<Text>,
        phone -> Nullable<Text>,
        active -> Bool,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    round_series (id) {
        id -> Text,
        team_id -> Text,
        agency_id -> Text,
        rule -> Text,
        purpose -> Text,
        stops -> Text,
        notes -> Nullable<Text>,
        time_zone -> Text,
        planned_until -> Text,
        version -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rounds (id) {
        id -> Text,
        team_id -> Text,
        agency_id -> Text,
        series_id -> Nullable<Text>,
        occurrence_key -> Nullable<Text>,
        detached -> Bool,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        local_date -> Text,
        purpose -> Text,
        notes -> Nullable<Text>,
        status -> Text,
        checked_in_by -> Nullable<Text>,
        checked_in_at -> Nullable<Timestamp>,
        check_in_lat -> Nullable<Double>,
        check_in_lon -> Nullable<Double>,
        check_in_distance_m -> Nullable<Double>,
        check_in_reason -> Nullable<Text>,
        checked_out_by -> Nullable<Text>,
        checked_out_at -> Nullable<Timestamp>,
        report -> Nullable<Text>,
        created_by -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        check_out_lat -> Nullable<Double>,
        check_out_lon -> Nullable<Double>,
        missed_at -> Nullable<Timestamp>,
        checked_in_received_at -> Nullable<Timestamp>,
        checked_out_received_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    round_stops (round_id, position) {
        round_id -> Text,
        position -> Integer,
        hotspot_id -> Nullable<Text>,
        area_id -> Nullable<Text>,
        arrived_at -> Nullable<Timestamp>,
        arrived_lat -> Nullable<Double>,
        arrived_lon -> Nullable<Double>,
        left_at -> Nullable<Timestamp>,
        arrived_received_at -> Nullable<Timestamp>,
        left_received_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    planning_policies (agency_id) {
        agency_id -> Text,
        policy -> Text,
        version -> Integer,
        updated_by -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> users (user_id));
diesel::joinable!(rounds -> teams (team_id));
diesel::joinable!(round_stops -> rounds (round_id));
diesel::joinable!(round_stops -> hotspots (hotspot_id));

diesel::table! {
    lifeline_counters (session_id) {
        session_id -> Text,
        last_counter -> BigInt,
        accepted_at -> Timestamp,
    }
}

diesel::table! {
    sms_inbound (id) {
        id -> Text,
        message_sid -> Nullable<Text>,
        received_at -> Timestamp,
        session_id -> Nullable<Text>,
        counter -> Nullable<BigInt>,
        identification_id -> Nullable<Text>,
        outcome -> Text,
        reason -> Nullable<Text>,
        reply -> Nullable<Text>,
    }
}

diesel::joinable!(lifeline_counters -> sessions (session_id));

diesel::table! {
    protection_cases (id) {
        id -> Text,
        profile_id -> Text,
        agency_id -> Text,
        municipality_id -> Nullable<Text>,
        referral_id -> Nullable<Text>,
        opened_at -> Timestamp,
        identified_by -> Text,
        age_band -> Text,
        ethnicity -> Nullable<Text>,
        risk_level -> Nullable<Text>,
        primary_problem -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        closure_reason -> Nullable<Text>,
        content_hash -> Text,
        created_by -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    protection_measures (id) {
        id -> Text,
        case_id -> Text,
        measure -> Text,
        taken_at -> Timestamp,
        recorded_by -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    municipal_plans (municipality_id) {
        municipality_id -> Text,
        baseline_period -> Text,
        target_change_percent -> Integer,
        version -> Integer,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    report_versions (id) {
        id -> Text,
        area_code -> Text,
        period -> Text,
        version -> Integer,
        exact -> Text,
        hidden -> Text,
        content_hash -> Text,
        cut_off -> Timestamp,
        generated_by -> Nullable<Text>,
        generated_at -> Timestamp,
    }
}

diesel::joinable!(protection_cases -> child_profiles (profile_id));
diesel::joinable!(protection_cases -> agencies (agency_id));
diesel::joinable!(protection_measures -> protection_cases (case_id));

diesel::table! {
    dhis2_mapping (id) {
        id -> Text,
        data_set -> Nullable<Text>,
        version -> Integer,
        updated_by -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    dhis2_cell_mappings (table_id, row_code) {
        table_id -> Text,
        row_code -> Text,
        data_element -> Text,
        category_option_combo -> Text,
    }
}

diesel::table! {
    dhis2_org_units (area_code) {
        area_code -> Text,
        org_unit -> Text,
    }
}
