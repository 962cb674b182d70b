//! affnet's accounts: networks (tenants), their users and roles, argon2id passwords, the
//! contents of a sign-in session, per-user API keys, and sign-in throttling.
//!
//! Every function that touches tenant data takes a [`TenantId`](affnet_db::TenantId). This crate
//! knows nothing of HTTP: cookies and headers are the web layer's business.

pub mod api_key;
pub mod audit;
pub mod error;
pub mod mail;
pub mod password;
pub mod role;
pub mod session;
pub mod signup;
pub mod tenant;
pub mod throttle;
pub mod token;
pub mod user;

pub use api_key::{ApiKey, NewApiKey};
pub use error::AccountsError;
pub use password::NewPassword;
pub use role::Role;
pub use session::SessionData;
pub use tenant::Tenant;
pub use user::{NewUser, User, UserStatus};
