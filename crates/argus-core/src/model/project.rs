use serde::{Deserialize, Serialize};

use super::{ModelError, Role, Timestamp, check_name};
use crate::id::{LabelSchemaId, ProjectId, UserId};

/// A body of annotation work: videos, one label schema, members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub schema_id: LabelSchemaId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Project {
    pub const MAX_NAME: usize = 200;

    pub fn new(name: &str, schema_id: LabelSchemaId, now: Timestamp) -> Result<Self, ModelError> {
        check_name("project name", name, Self::MAX_NAME)?;
        Ok(Self {
            id: ProjectId::new(),
            name: name.trim().to_owned(),
            description: String::new(),
            schema_id,
            created_at: now,
            updated_at: now,
        })
    }
}

/// A user's role in one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub role: Role,
    #[serde(default)]
    pub display_name: String,
}
