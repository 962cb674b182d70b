//! What account operations can refuse.

use affnet_db::{DbError, FieldErrors};

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error("wrong email or password")]
    BadCredentials,
    #[error("too many failed sign-in attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: i64 },
    #[error("this account is waiting for approval")]
    Pending { verified: bool },
    #[error("this account is disabled")]
    Disabled,
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for AccountsError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => AccountsError::NotFound,
            other => AccountsError::Db(other),
        }
    }
}

impl From<diesel::result::Error> for AccountsError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::from(e).into()
    }
}

impl From<FieldErrors> for AccountsError {
    fn from(e: FieldErrors) -> Self {
        AccountsError::Invalid(e)
    }
}
