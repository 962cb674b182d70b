//! Integration tests: real HTTP against the real server, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod audit;
mod browser;
mod catalogue_api;
mod catalogue_pages;
mod cli;
mod durability;
mod nul_text;
mod ops;
mod pages;
mod postbacks;
mod reports;
mod rollups;
mod sign_in;
mod signup;
mod smtp_sink;
mod sub_rollups;
mod support;
mod tracking;
mod tracking_api;
mod tracking_domains;
mod tracking_pages;
mod webdriver;
