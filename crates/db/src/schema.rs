//! The diesel schema, one for both backends (portable column types only).

diesel::table! {
    app_settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    tenants (id) {
        id -> BigInt,
        slug -> Text,
        name -> Text,
        timezone -> Text,
        created_at -> BigInt,
        signup_auto_approve -> Bool,
        advertiser_signup -> Bool,
        tracking_domain -> Nullable<Text>,
        signup_terms -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        email -> Text,
        name -> Text,
        role -> Text,
        status -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        last_login_at -> Nullable<BigInt>,
        advertiser_id -> Nullable<BigInt>,
        affiliate_id -> Nullable<BigInt>,
        email_verified_at -> Nullable<BigInt>,
        password_changed_at -> Nullable<BigInt>,
        session_epoch -> BigInt,
    }
}

diesel::table! {
    account_tokens (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        user_id -> BigInt,
        purpose -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        user_id -> BigInt,
        prefix -> Text,
        secret_hash -> Text,
        label -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        email -> Text,
        ip -> Text,
        at -> BigInt,
    }
}

diesel::joinable!(users -> tenants (tenant_id));
diesel::joinable!(api_keys -> users (user_id));

diesel::table! {
    advertisers (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        contact_name -> Text,
        contact_email -> Text,
        status -> Text,
        notes -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    affiliates (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        contact_email -> Text,
        status -> Text,
        manager_user_id -> Nullable<BigInt>,
        notes -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        postback_secret -> Text,
    }
}

diesel::table! {
    offers (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        advertiser_id -> BigInt,
        name -> Text,
        description -> Text,
        offer_url -> Text,
        preview_url -> Text,
        fallback_url -> Text,
        status -> Text,
        visibility -> Text,
        currency -> Text,
        payout_type -> Text,
        payout_flat -> BigInt,
        payout_bps -> BigInt,
        revenue_type -> Text,
        revenue_flat -> BigInt,
        revenue_bps -> BigInt,
        conversion_status -> Text,
        min_click_age_secs -> BigInt,
        max_click_age_secs -> BigInt,
        daily_cap -> Nullable<BigInt>,
        total_cap -> Nullable<BigInt>,
        cap_unit -> Text,
        over_cap -> Text,
        dedupe_adv_sub -> Bool,
        one_per_click -> Bool,
        require_token -> Bool,
        security_token -> Text,
        ip_allowlist -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    goals (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        offer_id -> BigInt,
        name -> Text,
        status -> Text,
        payout_type -> Text,
        payout_flat -> BigInt,
        payout_bps -> BigInt,
        revenue_type -> Text,
        revenue_flat -> BigInt,
        revenue_bps -> BigInt,
        allow_multiple -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    offer_access (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        offer_id -> BigInt,
        affiliate_id -> BigInt,
        status -> Text,
        message -> Text,
        note -> Text,
        requested_at -> BigInt,
        decided_at -> Nullable<BigInt>,
        decided_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    payout_overrides (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        offer_id -> BigInt,
        goal_id -> Nullable<BigInt>,
        affiliate_id -> BigInt,
        payout_type -> Text,
        payout_flat -> BigInt,
        payout_bps -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    clicks (id) {
        id -> Text,
        seq -> BigInt,
        tenant_id -> BigInt,
        offer_id -> BigInt,
        affiliate_id -> BigInt,
        advertiser_id -> BigInt,
        aff_sub -> Text,
        aff_sub2 -> Text,
        aff_sub3 -> Text,
        aff_sub4 -> Text,
        aff_sub5 -> Text,
        source -> Text,
        aff_click_id -> Text,
        ip -> Text,
        user_agent -> Text,
        referrer -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    click_rejections (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        offer_id -> BigInt,
        affiliate_id -> BigInt,
        reason -> Text,
        ip -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    conversions (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        click_id -> Text,
        click_seq -> BigInt,
        offer_id -> BigInt,
        affiliate_id -> BigInt,
        advertiser_id -> BigInt,
        goal_id -> Nullable<BigInt>,
        status -> Text,
        currency -> Text,
        sale_amount -> Nullable<BigInt>,
        payout -> BigInt,
        revenue -> BigInt,
        adv_sub -> Text,
        ip -> Text,
        click_key -> Nullable<Text>,
        adv_sub_key -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    conversion_attempts (id) {
        id -> BigInt,
        tenant_id -> Nullable<BigInt>,
        transaction_id -> Text,
        offer_id -> Nullable<BigInt>,
        goal_id -> Nullable<BigInt>,
        conversion_id -> Nullable<BigInt>,
        outcome -> Text,
        reason -> Text,
        message -> Text,
        method -> Text,
        raw_query -> Text,
        ip -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    conversion_status_changes (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        conversion_id -> BigInt,
        from_status -> Text,
        to_status -> Text,
        note -> Text,
        changed_by -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    stats_hourly (tenant_id, hour, offer_id, affiliate_id) {
        tenant_id -> BigInt,
        hour -> BigInt,
        offer_id -> BigInt,
        affiliate_id -> BigInt,
        clicks -> BigInt,
        rejected_clicks -> BigInt,
        approved -> BigInt,
        pending -> BigInt,
        rejected -> BigInt,
        payout -> BigInt,
        revenue -> BigInt,
        pending_payout -> BigInt,
        pending_revenue -> BigInt,
    }
}

diesel::table! {
    stats_daily (tenant_id, day, offer_id, affiliate_id) {
        tenant_id -> BigInt,
        day -> BigInt,
        offer_id -> BigInt,
        affiliate_id -> BigInt,
        clicks -> BigInt,
        rejected_clicks -> BigInt,
        approved -> BigInt,
        pending -> BigInt,
        rejected -> BigInt,
        payout -> BigInt,
        revenue -> BigInt,
        pending_payout -> BigInt,
        pending_revenue -> BigInt,
    }
}

diesel::table! {
    stats_sub_clicks_hourly (tenant_id, slot, hour, value, offer_id, affiliate_id) {
        tenant_id -> BigInt,
        slot -> BigInt,
        hour -> BigInt,
        value -> Text,
        offer_id -> BigInt,
        affiliate_id -> BigInt,
        clicks -> BigInt,
    }
}

diesel::table! {
    stats_sub_clicks_daily (tenant_id, slot, day, value, offer_id, affiliate_id) {
        tenant_id -> BigInt,
        slot -> BigInt,
        day -> BigInt,
        value -> Text,
        offer_id -> BigInt,
        affiliate_id -> BigInt,
        clicks -> BigInt,
    }
}

diesel::table! {
    stats_sub_progress (tenant_id, hour) {
        tenant_id -> BigInt,
        hour -> BigInt,
        upto -> BigInt,
        clicks -> BigInt,
        aggregated_at -> BigInt,
    }
}

diesel::table! {
    stats_sub_days (tenant_id, day) {
        tenant_id -> BigInt,
        day -> BigInt,
        clicks -> BigInt,
        folded_at -> BigInt,
    }
}

diesel::table! {
    stats_sub_conversions_hourly (tenant_id, slot, hour, value, offer_id, affiliate_id) {
        tenant_id -> BigInt,
        slot -> BigInt,
        hour -> BigInt,
        value -> Text,
        offer_id -> BigInt,
        affiliate_id -> BigInt,
        approved -> BigInt,
        pending -> BigInt,
        rejected -> BigInt,
        payout -> BigInt,
        revenue -> BigInt,
        pending_payout -> BigInt,
        pending_revenue -> BigInt,
    }
}

diesel::table! {
    stats_sub_conversions_daily (tenant_id, slot, day, value, offer_id, affiliate_id) {
        tenant_id -> BigInt,
        slot -> BigInt,
        day -> BigInt,
        value -> Text,
        offer_id -> BigInt,
        affiliate_id -> BigInt,
        approved -> BigInt,
        pending -> BigInt,
        rejected -> BigInt,
        payout -> BigInt,
        revenue -> BigInt,
        pending_payout -> BigInt,
        pending_revenue -> BigInt,
    }
}

diesel::table! {
    stats_sub_conversion_changes (tenant_id, day) {
        tenant_id -> BigInt,
        day -> BigInt,
        changes -> BigInt,
    }
}

diesel::table! {
    stats_sub_conversion_folds (tenant_id, day) {
        tenant_id -> BigInt,
        day -> BigInt,
        changes -> BigInt,
        folded_at -> BigInt,
    }
}

diesel::table! {
    postbacks (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        affiliate_id -> BigInt,
        offer_id -> Nullable<BigInt>,
        goal_id -> Nullable<BigInt>,
        url -> Text,
        method -> Text,
        body -> Text,
        content_type -> Text,
        on_approved -> Bool,
        on_pending -> Bool,
        on_rejected -> Bool,
        on_status_change -> Bool,
        enabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_alert_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    postback_jobs (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        conversion_id -> BigInt,
        postback_id -> Nullable<BigInt>,
        affiliate_id -> BigInt,
        event -> Text,
        method -> Text,
        url -> Text,
        body -> Text,
        content_type -> Text,
        state -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        locked_until -> Nullable<BigInt>,
        last_error -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        locked_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    postback_attempts (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        job_id -> Nullable<BigInt>,
        postback_id -> Nullable<BigInt>,
        affiliate_id -> BigInt,
        method -> Text,
        url -> Text,
        status_code -> Nullable<BigInt>,
        latency_ms -> BigInt,
        response_excerpt -> Text,
        error -> Text,
        test -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        actor_user_id -> Nullable<BigInt>,
        actor_label -> Text,
        entity -> Text,
        entity_id -> Text,
        action -> Text,
        summary -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(offers -> advertisers (advertiser_id));
diesel::joinable!(goals -> offers (offer_id));
diesel::joinable!(offer_access -> offers (offer_id));
diesel::joinable!(offer_access -> affiliates (affiliate_id));
diesel::joinable!(payout_overrides -> offers (offer_id));
diesel::joinable!(postback_jobs -> conversions (conversion_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    users,
    account_tokens,
    api_keys,
    login_failures,
    advertisers,
    affiliates,
    offers,
    goals,
    offer_access,
    payout_overrides,
    clicks,
    click_rejections,
    conversions,
    conversion_attempts,
    conversion_status_changes,
    stats_hourly,
    stats_daily,
    stats_sub_clicks_hourly,
    stats_sub_clicks_daily,
    stats_sub_progress,
    stats_sub_days,
    stats_sub_conversions_hourly,
    stats_sub_conversions_daily,
    stats_sub_conversion_changes,
    stats_sub_conversion_folds,
    postbacks,
    postback_jobs,
    postback_attempts,
    audit_log,
);
