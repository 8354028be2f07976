//! The reports the law asks for, computed from the field records: `period` names what a report
//! covers.

pub mod period;
