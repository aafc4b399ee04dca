//! The one integration-test binary: the real HTTP surface, the real binary, real
//! databases. The backend comes from `PROCURA_TEST_DATABASE` (`sqlite`, the default, or
//! `postgres`); each test gets its own fresh database.
//!
//! Shared support lives in `helpers/`; test files are grouped by route or command and
//! import only `crate::helpers`, never each other.

mod helpers;

// Pages and forms, by route.
mod admin_screens;
mod attestation;
mod audit;
mod auth;
mod choosing;
mod demo;
mod excerpt;
mod fc_logout;
mod formats;
mod habilitation;
mod hardening;
mod health;
mod inactivity;
mod manager;
mod mandates;
mod memberships;
mod moi;
mod notices;
mod person_page;
mod receipts;
mod remote_consent;
mod review;
mod review_issue12;
mod review_issue13;
mod review_issue14;
mod review_issue9;
mod space;
mod statistics;
mod structure_demarches;
mod terms;
mod translations;

// The OpenID provider, by endpoint.
mod oidc_authorize;
mod oidc_demarche;
mod oidc_keys;
mod oidc_logout;
mod oidc_token;
mod oidc_userinfo;

// Commands of the binary.
mod accreditation;
mod admin_cli;
mod binary;
mod checkpoints;
mod crash;
mod erasure;
mod journal;
mod mail;
mod migrations;

// Independent implementations and a real browser.
mod browser;
mod interop_fc;
mod interop_op;
