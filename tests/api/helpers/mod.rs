//! Test support shared by every test file: the app under test, databases, HTTP clients,
//! fixtures, user journeys and outside processes. A test file imports `crate::helpers::*`
//! and never another test file.

pub mod accreditation;
pub mod admin;
pub mod app;
pub mod browser;
pub mod db;
pub mod fc;
pub mod fixtures;
pub mod habilitation;
pub mod http;
pub mod mail;
pub mod oidc;
pub mod person;
pub mod procs;
pub mod smtp;

pub use accreditation::*;
pub use admin::*;
pub use app::*;
pub use db::*;
pub use fixtures::*;
pub use habilitation::*;
pub use http::*;
pub use mail::*;
pub use procs::*;
pub use smtp::*;
