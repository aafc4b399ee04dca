//! The one integration-test binary: the real HTTP surface, the real binary, real
//! databases. The backend comes from `PROCURA_TEST_DATABASE` (`sqlite`, the default, or
//! `postgres`); each test gets its own fresh database.

mod accounts;
mod binary;
mod browser;
mod harness;
mod health;
mod interop;
mod interop_op;
mod journal;
mod mandates;
mod provider;
