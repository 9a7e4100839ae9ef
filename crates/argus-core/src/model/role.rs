use serde::{Deserialize, Serialize};

use super::ModelError;

/// A member's role in a project. Roles are ordered: each has every
/// permission of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Draws and edits annotations.
    Annotator,
    /// Also approves or rejects work, with comments.
    Reviewer,
    /// Also manages members, the label schema, videos and exports.
    Lead,
}

/// Something a member may or may not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    ViewProject,
    EditAnnotations,
    Comment,
    Review,
    UploadVideos,
    EditSchema,
    ManageMembers,
    Export,
    DeleteProject,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Annotator, Role::Reviewer, Role::Lead];

    /// The least role that holds `permission`.
    fn minimum_for(permission: Permission) -> Role {
        match permission {
            Permission::ViewProject | Permission::EditAnnotations | Permission::Comment => Role::Annotator,
            Permission::Review => Role::Reviewer,
            Permission::UploadVideos
            | Permission::EditSchema
            | Permission::ManageMembers
            | Permission::Export
            | Permission::DeleteProject => Role::Lead,
        }
    }

    pub fn can(self, permission: Permission) -> bool {
        self >= Self::minimum_for(permission)
    }

    /// `Ok` when allowed, else a typed `Forbidden` error.
    pub fn require(self, permission: Permission) -> Result<(), ModelError> {
        if self.can(permission) { Ok(()) } else { Err(ModelError::Forbidden { role: self, permission }) }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Annotator => "annotator",
            Role::Reviewer => "reviewer",
            Role::Lead => "lead",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}'; use annotator, reviewer or lead"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        assert!(Role::Annotator.can(Permission::EditAnnotations));
        assert!(!Role::Annotator.can(Permission::Review));
        assert!(Role::Reviewer.can(Permission::Review));
        assert!(!Role::Reviewer.can(Permission::ManageMembers));
        assert!(Role::Lead.can(Permission::ManageMembers) && Role::Lead.can(Permission::Review));
        assert!(matches!(Role::Annotator.require(Permission::Export), Err(ModelError::Forbidden { .. })));
        assert_eq!("reviewer".parse::<Role>(), Ok(Role::Reviewer));
        assert!("admin".parse::<Role>().is_err());
        assert_eq!(serde_json::to_string(&Role::Lead).expect("json"), "\"lead\"");
    }
}
