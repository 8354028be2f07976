//! Record ids: UUIDs on the wire, stored as text, and a type of their own for each kind of record
//! so that a function taking a team and a user cannot be handed them the other way round.
//!
//! Each id reads as `&str` where text is wanted (queries, keys, logs); a function that means a
//! particular record takes its id type.

use std::fmt;

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::problem::{ApiError, ApiResult};

pub fn parse_uuid(id: &str) -> ApiResult<Uuid> {
    id.parse().map_err(|e| ApiError::internal(anyhow::anyhow!("stored id {id} is not a UUID: {e}")))
}

macro_rules! record_ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, DieselNewType, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new id, ordered by creation time.
            pub fn generate() -> Self {
                Self(Uuid::now_v7().to_string())
            }

            /// An id as stored, for ids read from a row or another record.
            pub fn from_stored(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The UUID for the wire; a stored id that is not one is an internal error.
            pub fn uuid(&self) -> ApiResult<Uuid> {
                parse_uuid(&self.0)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == &other.0
            }
        }
    )*};
}

record_ids! {
    /// A person who signs in.
    UserId;
    /// A field team.
    TeamId;
    /// A duty rota.
    ScheduleId;
    /// An agency: a service, shelter, police station or office that people work for.
    AgencyId;
    /// A referral of a person from one agency to another.
    ReferralId;
    /// An alert raised to an agency's people on duty.
    AlertId;
    /// A child's protection case at a child-protection unit.
    CaseId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_text_on_the_wire_and_a_uuid_when_it_is_one() {
        let uuid = Uuid::now_v7();
        let id = ScheduleId::from(uuid);
        assert_eq!(serde_json::to_value(&id).unwrap(), serde_json::json!(uuid.to_string()));
        assert_eq!(serde_json::from_value::<ScheduleId>(serde_json::json!(uuid.to_string())).unwrap(), id);
        assert_eq!(id.uuid().unwrap(), uuid);
        assert!(ScheduleId::from_stored("not-a-uuid").uuid().is_err(), "a stored id that is not a UUID is an error");
    }
}
