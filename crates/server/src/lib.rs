//! The affnet binary's library half: configuration from the environment, the CLI, assembly of
//! the actix app (tracking endpoints, pages, API, operations), and start-up. Integration tests
//! start the same server this way.

pub mod app;
pub mod body_deadline;
pub mod cli;
pub mod config;
pub mod ops;
pub mod startup;
pub mod stop;

pub use config::Config;
