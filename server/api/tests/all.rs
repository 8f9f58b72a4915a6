//! Integration tests of the admin API: the real server on a fresh database
//! per test. One binary keeps link time down.

#![allow(clippy::unwrap_used)]

mod api;
