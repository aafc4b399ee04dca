//! Structures and accounts.

pub mod structures;
