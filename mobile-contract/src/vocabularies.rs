use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every coded list Terren uses, each entry with its Albanian and English label.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Vocabularies {
    pub vocabularies: Vec<Vocabulary>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Vocabulary {
    /// E.g. `age_band`, `street_situation`, `referral_outcome`.
    pub name: String,
    pub entries: Vec<VocabularyEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VocabularyEntry {
    pub code: String,
    pub sq: String,
    pub en: String,
    /// Retired codes stay readable on old records but are not offered for new ones.
    pub active: bool,
}
