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
    /// Sees the project's member list.
    ViewMembers,
    EditAnnotations,
    Comment,
    Review,
    UploadVideos,
    EditSchema,
    ManageMembers,
    Export,
    DeleteProject,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::ViewProject,
        Permission::ViewMembers,
        Permission::EditAnnotations,
        Permission::Comment,
        Permission::Review,
        Permission::UploadVideos,
        Permission::EditSchema,
        Permission::ManageMembers,
        Permission::Export,
        Permission::DeleteProject,
    ];

    /// The snake_case name, as serde writes it and SQL policies name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ViewProject => "view_project",
            Permission::ViewMembers => "view_members",
            Permission::EditAnnotations => "edit_annotations",
            Permission::Comment => "comment",
            Permission::Review => "review",
            Permission::UploadVideos => "upload_videos",
            Permission::EditSchema => "edit_schema",
            Permission::ManageMembers => "manage_members",
            Permission::Export => "export",
            Permission::DeleteProject => "delete_project",
        }
    }
}

impl Role {
    /// 1 for the least role, rising: what SQL compares.
    pub fn rank(self) -> i32 {
        match self {
            Role::Annotator => 1,
            Role::Reviewer => 2,
            Role::Lead => 3,
        }
    }

    pub const ALL: [Role; 3] = [Role::Annotator, Role::Reviewer, Role::Lead];

    /// The least role that holds `permission`. This is the role matrix: the
    /// server's API checks and its row-level security policies are both
    /// generated from it.
    pub fn minimum_for(permission: Permission) -> Role {
        match permission {
            Permission::ViewProject | Permission::ViewMembers | Permission::EditAnnotations | Permission::Comment => {
                Role::Annotator
            }
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

    #[test]
    fn permission_names_are_their_serde_names_and_ranks_rise() {
        for p in Permission::ALL {
            assert_eq!(serde_json::to_value(p).expect("json"), serde_json::json!(p.as_str()));
            assert!((1..=3).contains(&Role::minimum_for(p).rank()));
        }
        let ranks: Vec<i32> = Role::ALL.iter().map(|r| r.rank()).collect();
        assert_eq!(ranks, [1, 2, 3]);
    }
}
