//! Procura: acting on behalf of someone, safely.
//!
//! Modules by domain; see `docs/ARCHITECTURE.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod error;
pub mod federation;
pub mod i18n;
pub mod journal;
pub mod mail;
pub mod maintenance;
pub mod mandates;
pub mod notify;
pub mod operator;
pub mod oversight;
pub mod person;
pub mod statistics;
pub mod store;
pub mod telemetry;
pub mod web;
