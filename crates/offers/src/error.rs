//! What catalogue operations can refuse.

use affnet_db::{DbError, FieldErrors};

#[derive(Debug, thiserror::Error)]
pub enum OffersError {
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(DbError),
}

impl OffersError {
    /// The database refused a second row for a unique key: a creation sent at the same time won
    /// the race (the loser is answered as if sent after it).
    pub fn is_conflict(&self) -> bool {
        matches!(self, OffersError::Db(DbError::UniqueViolation(_)))
    }
}

/// Runs `f` again once if a concurrent creation of the same row made it fail on the row's unique
/// key: the second run finds the row and updates it.
pub(crate) fn once_more_on_conflict<T>(
    conn: &mut affnet_db::DbConn,
    mut f: impl FnMut(&mut affnet_db::DbConn) -> Result<T, OffersError>,
) -> Result<T, OffersError> {
    match f(conn) {
        Err(e) if e.is_conflict() => f(conn),
        other => other,
    }
}

impl From<DbError> for OffersError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => OffersError::NotFound,
            other => OffersError::Db(other),
        }
    }
}

impl From<diesel::result::Error> for OffersError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::from(e).into()
    }
}

impl From<FieldErrors> for OffersError {
    fn from(e: FieldErrors) -> Self {
        OffersError::Invalid(e)
    }
}

/// Trims `value` and checks its length (in characters); adds an error for `field` otherwise.
pub fn text(value: &str, field: &str, min: usize, max: usize, errors: &mut FieldErrors) -> String {
    let v = value.trim();
    let n = v.chars().count();
    if n < min {
        errors.add(
            field,
            if min == 1 { "this field is required".to_owned() } else { format!("use at least {min} characters") },
        );
    } else if n > max {
        errors.add(field, format!("use at most {max} characters"));
    }
    v.to_owned()
}

/// Like [`text`], for one line (a name): control characters (line breaks, tabs) are refused.
pub fn line(value: &str, field: &str, min: usize, max: usize, errors: &mut FieldErrors) -> String {
    let v = text(value, field, min, max, errors);
    if affnet_db::validation::has_control(&v) && errors.get(field).is_none() {
        errors.add(field, affnet_db::validation::ONE_LINE);
    }
    v
}
