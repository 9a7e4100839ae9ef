use serde::{Deserialize, Serialize};

use super::{ModelError, Timestamp, check_name};
use crate::id::{TeamId, UserId};

/// A team owns projects, storage quotas and members. Team owners create
/// projects and manage the team; inside a project, each member's rights come
/// from their project [`Role`](super::Role), and a team owner counts as a lead
/// in every project of the team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    /// The largest single file a member may upload, in bytes (`None`: no limit).
    #[serde(default)]
    pub max_file_bytes: Option<i64>,
    /// All stored bytes of the team's projects together (`None`: no limit).
    #[serde(default)]
    pub quota_bytes: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Team {
    pub const MAX_NAME: usize = 200;

    pub fn new(name: &str, now: Timestamp) -> Result<Self, ModelError> {
        check_name("team name", name, Self::MAX_NAME)?;
        Ok(Self {
            id: TeamId::new(),
            name: name.trim().to_owned(),
            max_file_bytes: None,
            quota_bytes: None,
            created_at: now,
            updated_at: now,
        })
    }
}

/// A user's standing in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamRole {
    /// Belongs to the team; sees the projects they are a member of.
    Member,
    /// Creates projects, manages the team's members and quotas, and acts as a
    /// lead in every project of the team.
    Owner,
}

impl TeamRole {
    pub const ALL: [TeamRole; 2] = [TeamRole::Member, TeamRole::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Member => "member",
            TeamRole::Owner => "owner",
        }
    }

    /// The project role this team role gives in every project of the team
    /// (`None`: only an explicit project membership counts).
    pub fn implied_project_role(self) -> Option<super::Role> {
        match self {
            TeamRole::Owner => Some(super::Role::Lead),
            TeamRole::Member => None,
        }
    }
}

impl std::str::FromStr for TeamRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TeamRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown team role '{s}'; use member or owner"))
    }
}

/// A user's membership of a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub role: TeamRole,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn team_roles_parse_and_imply_project_roles() {
        assert_eq!("owner".parse::<TeamRole>(), Ok(TeamRole::Owner));
        assert!("admin".parse::<TeamRole>().is_err());
        assert_eq!(TeamRole::Owner.implied_project_role(), Some(Role::Lead));
        assert_eq!(TeamRole::Member.implied_project_role(), None);
        assert!(Team::new("  ", Timestamp(0)).is_err());
        assert_eq!(Team::new(" Vision ", Timestamp(0)).expect("team").name, "Vision");
    }
}
