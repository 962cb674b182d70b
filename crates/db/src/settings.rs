//! Installation-wide settings stored in the database (not tenant data).

use diesel::prelude::*;

use crate::schema::app_settings;
use crate::{DbConn, DbError};

pub fn get(conn: &mut DbConn, name: &str) -> Result<Option<String>, DbError> {
    Ok(app_settings::table
        .filter(app_settings::name.eq(name))
        .select(app_settings::value)
        .first::<String>(conn)
        .optional()?)
}

/// Returns the stored value of `name`, storing `make()` first if there is none. Safe when
/// several nodes race: the first insert wins and everybody reads the winner.
pub fn get_or_insert_with(conn: &mut DbConn, name: &str, make: impl FnOnce() -> String) -> Result<String, DbError> {
    if let Some(v) = get(conn, name)? {
        return Ok(v);
    }
    let inserted = diesel::insert_into(app_settings::table)
        .values((app_settings::name.eq(name), app_settings::value.eq(make())))
        .execute(conn);
    match inserted {
        Ok(_) | Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {}
        Err(e) => return Err(e.into()),
    }
    get(conn, name)?.ok_or(DbError::NotFound)
}
