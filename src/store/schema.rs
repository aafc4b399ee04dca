//! Table definitions shared by both backends (kept by hand; only shared types).
#![allow(missing_docs)]

diesel::table! {
    structures (id) {
        id -> Text,
        name -> Text,
        siret -> Text,
        address -> Text,
        active -> Bool,
        created_at -> Timestamp,
        demarches -> Nullable<Text>,
        demarches_removed -> Nullable<Text>,
    }
}

diesel::table! {
    journal_entries (seq) {
        seq -> BigInt,
        at -> Timestamp,
        action -> Text,
        actor -> Nullable<Text>,
        structure_id -> Nullable<Text>,
        usager_id -> Nullable<Text>,
        mandate_id -> Nullable<Text>,
        authorisation_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    journal_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    journal_keys (key_id) {
        key_id -> Text,
        name -> Text,
        public_key -> Text,
        pkcs8_enc -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    journal_tree (level, idx) {
        level -> Integer,
        idx -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    journal_checkpoints (size) {
        size -> BigInt,
        root -> Text,
        key_id -> Text,
        note -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        roles -> Text,
        active -> Bool,
        password_hash -> Nullable<Text>,
        totp_secret_enc -> Nullable<Text>,
        totp_last_step -> Nullable<BigInt>,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_login -> Nullable<Timestamp>,
        current_structure_id -> Nullable<Text>,
        created_at -> Timestamp,
        accredited_until -> Nullable<Timestamp>,
        password_reset_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    trainings (id) {
        id -> Text,
        user_id -> Text,
        completed_on -> Date,
        reference -> Text,
        recorded_by -> Text,
        recorded_at -> Timestamp,
        expires_at -> Timestamp,
        cancelled_at -> Nullable<Timestamp>,
        cancelled_by -> Nullable<Text>,
    }
}

diesel::table! {
    memberships (user_id, structure_id) {
        user_id -> Text,
        structure_id -> Text,
        created_at -> Timestamp,
        rights_since -> Timestamp,
        manager -> Bool,
    }
}

diesel::table! {
    membership_invitations (id) {
        id -> Text,
        structure_id -> Text,
        user_id -> Text,
        invited_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        status -> Text,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    enrolment_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        totp_pending_enc -> Nullable<Text>,
    }
}

diesel::table! {
    totp_cards (id) {
        id -> Text,
        serial -> Text,
        seed_enc -> Text,
        user_id -> Nullable<Text>,
        last_step -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Nullable<Text>,
        stage -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen -> Timestamp,
        data -> Text,
    }
}

diesel::table! {
    login_attempts (id) {
        id -> Text,
        client_addr -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    usagers (id) {
        id -> Text,
        fc_sub -> Text,
        given_name -> Text,
        family_name -> Text,
        preferred_username -> Nullable<Text>,
        birthdate -> Text,
        gender -> Text,
        birthplace -> Text,
        birthcountry -> Text,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    mandates (id) {
        id -> Text,
        structure_id -> Text,
        usager_id -> Text,
        aidant_id -> Text,
        duration -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        attestation_version -> Text,
        attestation_digest -> Text,
        journal_seq -> Nullable<BigInt>,
    }
}

diesel::table! {
    authorisations (id) {
        id -> Text,
        mandate_id -> Text,
        demarche -> Text,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::table! {
    consent_requests (id) {
        id -> Text,
        state_hash -> Text,
        session_hash -> Text,
        secrets_enc -> Text,
        structure_id -> Text,
        aidant_id -> Text,
        demarches -> Text,
        duration -> Text,
        status -> Text,
        identity_enc -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        renewal_of -> Nullable<Text>,
    }
}

diesel::table! {
    oidc_clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        auth_method -> Text,
        id_token_alg -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        active -> Bool,
        created_at -> Timestamp,
        demarches -> Nullable<Text>,
        pkce -> Text,
        userinfo_alg -> Text,
        demarches_removed -> Nullable<Text>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        pkcs8_enc -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    oidc_interactions (id) {
        id -> Text,
        session_hash -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        state -> Nullable<Text>,
        nonce -> Text,
        scope -> Text,
        code_challenge -> Text,
        prompt -> Nullable<Text>,
        max_age -> Nullable<BigInt>,
        usager_id -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        claims -> Nullable<Text>,
        client_addr -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Text,
        nonce -> Text,
        scope -> Text,
        claims -> Nullable<Text>,
        aidant_id -> Text,
        structure_id -> Text,
        usager_id -> Text,
        authorisation_id -> Text,
        demarche -> Text,
        auth_time -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    access_tokens (token_hash) {
        token_hash -> Text,
        code_hash -> Text,
        client_id -> Text,
        usager_id -> Text,
        scope -> Text,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        aidant_id -> Text,
        structure_id -> Text,
        mandate_id -> Text,
        authorisation_id -> Text,
        demarche -> Text,
        claims -> Nullable<Text>,
        issued_at -> Timestamp,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    usager_sessions (id_hash) {
        id_hash -> Text,
        usager_id -> Nullable<Text>,
        logged_in -> Bool,
        csrf_token -> Text,
        login_state_hash -> Nullable<Text>,
        login_secrets_enc -> Nullable<Text>,
        remote_id -> Nullable<Text>,
        created_at -> Timestamp,
        last_seen -> Timestamp,
    }
}

diesel::table! {
    use_notices (usager_id) {
        usager_id -> Text,
        window_started_at -> Nullable<Timestamp>,
        window_ends_at -> Nullable<Timestamp>,
        first_seq -> Nullable<BigInt>,
        pending -> Integer,
        stopped_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    remote_consents (id) {
        id -> Text,
        token_hash -> Text,
        structure_id -> Text,
        aidant_id -> Text,
        demarches -> Text,
        duration -> Text,
        expected_enc -> Text,
        identity_enc -> Nullable<Text>,
        session_hash -> Nullable<Text>,
        status -> Text,
        mandate_id -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    expiry_reminders (mandate_id) {
        mandate_id -> Text,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    helper_digests (user_id, kind) {
        user_id -> Text,
        kind -> Text,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    terms_acceptances (user_id, version) {
        user_id -> Text,
        version -> Text,
        digest -> Text,
        accepted_at -> Timestamp,
    }
}

diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(trainings -> users (user_id));
diesel::joinable!(memberships -> structures (structure_id));
diesel::joinable!(totp_cards -> users (user_id));
diesel::joinable!(enrolment_tokens -> users (user_id));
diesel::joinable!(mandates -> usagers (usager_id));
diesel::joinable!(mandates -> structures (structure_id));
diesel::joinable!(mandates -> users (aidant_id));
diesel::joinable!(authorisations -> mandates (mandate_id));
diesel::joinable!(use_notices -> usagers (usager_id));
diesel::joinable!(expiry_reminders -> mandates (mandate_id));
diesel::joinable!(helper_digests -> users (user_id));
diesel::joinable!(membership_invitations -> users (user_id));
diesel::joinable!(membership_invitations -> structures (structure_id));

diesel::allow_tables_to_appear_in_same_query!(
    structures,
    journal_entries,
    journal_head,
    journal_keys,
    journal_tree,
    journal_checkpoints,
    users,
    trainings,
    memberships,
    membership_invitations,
    enrolment_tokens,
    totp_cards,
    sessions,
    login_attempts,
    usagers,
    mandates,
    authorisations,
    consent_requests,
    oidc_clients,
    signing_keys,
    oidc_interactions,
    authorization_codes,
    access_tokens,
    mail_outbox,
    usager_sessions,
    remote_consents,
    use_notices,
    expiry_reminders,
    helper_digests,
    terms_acceptances,
);
