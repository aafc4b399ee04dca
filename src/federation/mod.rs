//! The OpenID federation: Procura relies on FranceConnect (`client`), signs tokens
//! (`jose`), and in demo mode serves a FranceConnect simulator (`simulator`).

pub mod client;
pub mod jose;
pub mod provider;
pub mod simulator;
