//! Who works on a server project, as its leads manage it from the app: the
//! members with their roles and the open invitations; adding someone by
//! e-mail (a member at once when they have an account, else an invitation
//! the server mails them); changing a role; removing a member; revoking an
//! invitation. And the other side: the invitations sent to the signed-in
//! user, which they accept here.
//!
//! The server decides (row-level security and each route's permission):
//! these calls say what it answered in words the dialog can show.

use argus_core::id::ProjectId;
use argus_core::model::Role;
use serde::Deserialize;

use crate::Workspace;
use crate::dto::{InvitationInfo, MyInvitation, PersonAdded, PersonInfo, ProjectPeople};
use crate::edit::parse_id;
use crate::error::{CommandError, CommandResult, ErrorKind};

#[derive(Deserialize)]
struct MemberRow {
    user_id: String,
    role: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct TeamOf {
    team_id: String,
}

#[derive(Deserialize)]
struct InvitationRow {
    id: String,
    email: String,
    role: String,
    #[serde(default)]
    project_id: Option<String>,
    expires_at: String,
    #[serde(default)]
    team_name: Option<String>,
    #[serde(default)]
    project_name: Option<String>,
    #[serde(default)]
    invited_by_email: Option<String>,
}

fn role_of(role: &str) -> CommandResult<Role> {
    role.parse::<Role>().map_err(|_| CommandError::invalid(format!("'{role}' is not a project role (annotator, reviewer, lead)")))
}

fn email_of(email: &str) -> CommandResult<String> {
    let email = email.trim().to_lowercase();
    let ok = email.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !host.starts_with('.') && !host.ends_with('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(email) } else { Err(CommandError::invalid(format!("'{email}' is not an e-mail address"))) }
}

impl Workspace {
    /// The project's members and, for those who may manage them, its open
    /// invitations.
    pub async fn project_people(&self, project_id: &str) -> CommandResult<ProjectPeople> {
        let id: ProjectId = parse_id("project", project_id)?;
        let conn = self.signed_in().await?;
        let api = Self::api(&conn)?;
        let members: Vec<MemberRow> = api.get(&format!("/api/v1/projects/{id}/members")).await.map_err(|e| match e {
            argus_client::Error::Http { status: 404, .. } => CommandError::not_found(
                "this project is not on the server, or you are not one of its members there: publish it first (Team, then Publish)",
            ),
            other => other.into(),
        })?;
        let invitations: Option<Vec<InvitationRow>> = match api.get(&format!("/api/v1/projects/{id}/invitations")).await {
            Ok(rows) => Some(rows),
            Err(argus_client::Error::Http { status: 403, .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let me = conn.user.to_string();
        let mut people: Vec<PersonInfo> = members
            .into_iter()
            .map(|m| PersonInfo {
                you: m.user_id == me,
                user_id: m.user_id,
                email: m.email.filter(|e| !e.is_empty()),
                display_name: m.display_name,
                role: m.role,
                team_owner: false,
            })
            .collect();
        // The team's owners lead every project of the team without being
        // its members: listed too, so the list says who decides. A member
        // who is not in the team cannot read the team's list: then none.
        let project: TeamOf = api.get(&format!("/api/v1/projects/{id}")).await?;
        if let Ok(team) = api.get::<Vec<MemberRow>>(&format!("/api/v1/teams/{}/members", project.team_id)).await {
            for owner in team.into_iter().filter(|m| m.role == "owner") {
                match people.iter_mut().find(|p| p.user_id == owner.user_id) {
                    Some(p) => p.team_owner = true,
                    None => people.push(PersonInfo {
                        you: owner.user_id == me,
                        user_id: owner.user_id,
                        email: owner.email.filter(|e| !e.is_empty()),
                        display_name: owner.display_name,
                        role: "lead".into(),
                        team_owner: true,
                    }),
                }
            }
        }
        Ok(ProjectPeople {
            project_id: id.to_string(),
            members: people,
            can_manage: invitations.is_some(),
            invitations: invitations
                .unwrap_or_default()
                .into_iter()
                .map(|i| InvitationInfo { id: i.id, email: i.email, role: i.role, expires_at: i.expires_at })
                .collect(),
        })
    }

    /// Adds `email` to the project as `role`: at once when they have an
    /// account on the server, else by an invitation the server mails them.
    pub async fn add_person(&self, project_id: &str, email: &str, role: &str) -> CommandResult<PersonAdded> {
        let id: ProjectId = parse_id("project", project_id)?;
        let email = email_of(email)?;
        let role = role_of(role)?;
        let conn = self.signed_in().await?;
        let api = Self::api(&conn)?;
        let body = serde_json::json!({ "role": role.as_str() });
        let added = api.put::<serde_json::Value>(&format!("/api/v1/projects/{id}/members/{}", form_urlencoded::byte_serialize(email.as_bytes()).collect::<String>()), &body).await;
        let (invited, message) = match added {
            Ok(_) => (false, format!("{email} is now {} {}", article(role), role.as_str())),
            Err(argus_client::Error::Http { status: 404, message, .. }) if message.contains("no account") => {
                let invite = serde_json::json!({ "email": email, "role": role.as_str() });
                let row: InvitationRow = api.post(&format!("/api/v1/projects/{id}/invitations"), &invite).await.map_err(|e| match e {
                    argus_client::Error::Http { status: 409, .. } => {
                        CommandError::new(ErrorKind::Conflict, format!("{email} already has an open invitation to this project; revoke it to send another"))
                    }
                    other => other.into(),
                })?;
                let until = row.expires_at.get(..10).unwrap_or(&row.expires_at).to_owned();
                (true, format!("{email} has no account yet: the server mailed them an invitation as {} (valid until {until})", role.as_str()))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(PersonAdded { people: self.project_people(project_id).await?, invited, message })
    }

    /// Gives a member another role.
    pub async fn set_person_role(&self, project_id: &str, user_id: &str, role: &str) -> CommandResult<ProjectPeople> {
        let id: ProjectId = parse_id("project", project_id)?;
        let user: argus_core::id::UserId = parse_id("user", user_id)?;
        let role = role_of(role)?;
        let conn = self.signed_in().await?;
        let body = serde_json::json!({ "role": role.as_str() });
        Self::api(&conn)?.put::<serde_json::Value>(&format!("/api/v1/projects/{id}/members/{user}"), &body).await?;
        self.project_people(project_id).await
    }

    /// Takes a member off the project (their work stays).
    pub async fn remove_person(&self, project_id: &str, user_id: &str) -> CommandResult<ProjectPeople> {
        let id: ProjectId = parse_id("project", project_id)?;
        let user: argus_core::id::UserId = parse_id("user", user_id)?;
        let conn = self.signed_in().await?;
        Self::api(&conn)?.delete(&format!("/api/v1/projects/{id}/members/{user}")).await?;
        self.project_people(project_id).await
    }

    /// Withdraws an invitation not accepted yet.
    pub async fn revoke_invitation(&self, project_id: &str, invitation_id: &str) -> CommandResult<ProjectPeople> {
        let invitation: uuid::Uuid = parse_id("invitation", invitation_id)?;
        let conn = self.signed_in().await?;
        Self::api(&conn)?.delete(&format!("/api/v1/invitations/{invitation}")).await.map_err(|e| match e {
            argus_client::Error::Http { status: 404, .. } => CommandError::not_found("that invitation was accepted or revoked meanwhile"),
            other => other.into(),
        })?;
        self.project_people(project_id).await
    }

    /// The open invitations sent to the signed-in user's address.
    pub async fn my_invitations(&self) -> CommandResult<Vec<MyInvitation>> {
        let conn = self.signed_in().await?;
        let rows: Vec<InvitationRow> = Self::api(&conn)?.get("/api/v1/invitations").await?;
        Ok(rows
            .into_iter()
            .map(|i| MyInvitation {
                id: i.id,
                team: i.team_name.unwrap_or_else(|| "a team".into()),
                project: i.project_name,
                project_id: i.project_id,
                role: i.role,
                invited_by: i.invited_by_email.filter(|e| !e.is_empty()),
                expires_at: i.expires_at,
            })
            .collect())
    }

    /// Accepts an invitation: its project is then on the server's list for
    /// this user (open it from there). Answers the invitations left.
    pub async fn accept_invitation(&self, invitation_id: &str) -> CommandResult<Vec<MyInvitation>> {
        let invitation: uuid::Uuid = parse_id("invitation", invitation_id)?;
        let conn = self.signed_in().await?;
        Self::api(&conn)?
            .post::<serde_json::Value>(&format!("/api/v1/invitations/{invitation}/accept"), &serde_json::json!({}))
            .await
            .map_err(|e| match e {
                argus_client::Error::Http { status: 403, message, .. } => CommandError::new(ErrorKind::SignIn, message),
                other => other.into(),
            })?;
        self.my_invitations().await
    }
}

/// "a" or "an" before the role's name.
pub(crate) fn article(role: Role) -> &'static str {
    if role.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}
