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

diesel::allow_tables_to_appear_in_same_query!(structures, journal_entries, journal_head);
