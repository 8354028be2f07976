//! Which failures mean "try again later" (503) rather than a fault of the service (500), and the
//! challenge every 401 carries.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::problem::ErrorCode;

/// Messages of database errors that say the database cannot serve right now: out of disk
/// (SQLite `SQLITE_FULL`, PostgreSQL `53100 disk_full` and failed file extensions), shutting
/// down or starting (`57P01`, `57P03`), the connection lost, the write lock or a statement timed
/// out under load.
const OUTAGE_MESSAGES: [&str; 12] = [
    "database or disk is full",
    "no space left on device",
    "disk full",
    "could not extend file",
    "database is locked",
    "terminating connection due to administrator command",
    "the database system is shutting down",
    "the database system is starting up",
    "server closed the connection unexpectedly",
    "no connection to the server",
    "connection to server",
    "canceling statement due to statement timeout",
];

/// Whether a database error is an outage.
pub fn is_database_outage(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => {
            true
        }
        DieselError::DatabaseError(_, info) => message_is_outage(info.message()),
        _ => false,
    }
}

fn message_is_outage(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    OUTAGE_MESSAGES.iter().any(|m| message.contains(m))
}

/// Whether anything in the error's chain is a database outage, an unreachable pool or a full
/// disk.
pub fn is_outage(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        if cause.is::<diesel::r2d2::PoolError>() || cause.is::<diesel::ConnectionError>() {
            return true;
        }
        if let Some(error) = cause.downcast_ref::<DieselError>() {
            return is_database_outage(error);
        }
        if let Some(error) = cause.downcast_ref::<diesel::r2d2::Error>() {
            return match error {
                diesel::r2d2::Error::ConnectionError(_) => true,
                diesel::r2d2::Error::QueryError(error) => is_database_outage(error),
            };
        }
        if let Some(error) = cause.downcast_ref::<std::io::Error>() {
            return error.kind() == std::io::ErrorKind::StorageFull;
        }
        false
    })
}

/// The `WWW-Authenticate` challenge of a 401 (RFC 6750).
pub fn challenge(code: ErrorCode) -> Option<&'static str> {
    match code {
        ErrorCode::InvalidToken => Some(r#"Bearer realm="terren", error="invalid_token""#),
        _ if code.status().as_u16() == 401 => Some(r#"Bearer realm="terren""#),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ApiError;

    struct Info(&'static str);

    impl diesel::result::DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn db_error(kind: DatabaseErrorKind, message: &'static str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(Info(message)))
    }

    #[test]
    fn a_full_disk_or_a_lost_database_is_a_503_not_a_500() {
        for error in [
            // SQLite SQLITE_FULL
            db_error(DatabaseErrorKind::Unknown, "database or disk is full"),
            // PostgreSQL 53100
            db_error(DatabaseErrorKind::Unknown, "could not extend file \"base/16384/2619\": No space left on device"),
            db_error(DatabaseErrorKind::ClosedConnection, "server closed the connection unexpectedly"),
            db_error(DatabaseErrorKind::UnableToSendCommand, "no connection to the server"),
            db_error(DatabaseErrorKind::Unknown, "terminating connection due to administrator command"),
        ] {
            let api: ApiError = error.into();
            assert_eq!(api.code, ErrorCode::Unavailable, "{api:?}");
        }
        let wrapped = anyhow::Error::new(db_error(DatabaseErrorKind::Unknown, "database or disk is full"))
            .context("writing the sighting");
        assert_eq!(ApiError::from(wrapped).code, ErrorCode::Unavailable);
        let io = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(ApiError::internal(io).code, ErrorCode::Unavailable);
    }

    #[test]
    fn other_database_errors_stay_internal() {
        let api: ApiError = db_error(DatabaseErrorKind::CheckViolation, "CHECK constraint failed").into();
        assert_eq!(api.code, ErrorCode::Internal);
        assert_eq!(ApiError::internal(anyhow::anyhow!("a bug")).code, ErrorCode::Internal);
    }
}
