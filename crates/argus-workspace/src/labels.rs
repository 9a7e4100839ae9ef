//! The label editor: a project's labels as the editor opens them (with what
//! the project's objects already use of each, which cannot be taken away),
//! and saving the edited list as the schema's next version. The rules are
//! the store's ([`argus_store::Store::set_labels`]); this side turns the
//! page's form into labels and says which field is wrong.

use argus_core::id::{LabelId, ProjectId};
use argus_core::model::{AttributeKind, AttributeSpec, Colour, Label, Permission, Role, ShapeKind};

use crate::Workspace;
use crate::dto::{AttributeInfo, LabelInfo, LabelUsage, LabelsForm};
use crate::edit::parse_id;
use crate::members::article;
use crate::error::{CommandError, CommandResult};

impl Workspace {
    /// A project's labels for the label editor: the schema version to save
    /// against, what objects use, and whether this user may edit them.
    pub async fn label_schema(&self, project_id: &str) -> CommandResult<LabelsForm> {
        let id: ProjectId = parse_id("project", project_id)?;
        let role = self.role_for_labels(id).await?;
        self.labels_form(id, role).await
    }

    /// The form as `role` sees it (the role asked for once per command).
    async fn labels_form(&self, id: ProjectId, role: Role) -> CommandResult<LabelsForm> {
        let store = self.store();
        let schema = store.schema(id).await?;
        let usage = store
            .label_usage(id)
            .await?
            .into_iter()
            .map(|(label, objects, kinds)| LabelUsage {
                label_id: label.to_string(),
                objects,
                kinds: kinds.into_iter().map(|(kind, _)| kind).collect(),
            })
            .collect();
        let read_only = not_yours(role);
        Ok(LabelsForm {
            project_id: id.to_string(),
            version: schema.version(),
            labels: schema.labels().iter().enumerate().map(|(i, l)| LabelInfo::from_label(l, i)).collect(),
            usage,
            read_only,
        })
    }

    /// Saves the editor's labels as the next schema version. `version` is
    /// the one the editor opened; a label with an empty id is new.
    pub async fn save_labels(&self, project_id: &str, version: u32, labels: &[LabelInfo]) -> CommandResult<LabelsForm> {
        let id: ProjectId = parse_id("project", project_id)?;
        if labels.is_empty() {
            return Err(CommandError::invalid("a project needs at least one label"));
        }
        let labels = labels.iter().map(label_of).collect::<CommandResult<Vec<_>>>()?;
        let store = self.store();
        let role = self.role_for_labels(id).await?;
        if let Some(why) = not_yours(role) {
            return Err(CommandError::invalid(why));
        }
        let actor = argus_store::Actor { user: store.local_user(), role };
        store.set_labels(id, &actor, version, labels).await?;
        self.labels_form(id, role).await
    }

    /// Who may edit a project's labels: for a project on the team's server,
    /// the role the server gives the signed-in user (so an annotator's edit
    /// is refused here, not after it was made and then refused by a sync);
    /// otherwise the local store's.
    async fn role_for_labels(&self, project: ProjectId) -> CommandResult<Role> {
        let store = self.store();
        if let Some(role) = self.server_role(project).await {
            return Ok(role);
        }
        Ok(store.actor(project, store.local_user()).await?.role)
    }
}

/// Why someone with `role` may not edit the labels (`None`: they may).
fn not_yours(role: Role) -> Option<String> {
    role.require(Permission::EditSchema)
        .err()
        .map(|_| format!("only the project's leads may edit its labels (you are {} {} here)", article(role), role.as_str()))
}

/// The label a form row describes, or which of its fields is wrong.
fn label_of(info: &LabelInfo) -> CommandResult<Label> {
    let name = info.name.trim();
    let named = if name.is_empty() { "a label".to_owned() } else { format!("label '{name}'") };
    let id = if info.id.is_empty() { LabelId::new() } else { parse_id("label", &info.id)? };
    let colour: Colour = info
        .colour
        .parse()
        .map_err(|_| CommandError::invalid(format!("{named}: colour '{}' is not of the form #rrggbb", info.colour)))?;
    let kinds = info
        .kinds
        .iter()
        .map(|k| {
            ShapeKind::ALL.into_iter().find(|s| s.name() == k).ok_or_else(|| {
                CommandError::invalid(format!("{named}: '{k}' is not a shape kind (mask, polygon, bbox, polyline, points)"))
            })
        })
        .collect::<CommandResult<Vec<_>>>()?;
    if kinds.is_empty() {
        return Err(CommandError::invalid(format!("{named}: allow at least one shape kind")));
    }
    let attributes = info.attributes.iter().map(|a| attribute_of(&named, a)).collect::<CommandResult<Vec<_>>>()?;
    Ok(Label { id, name: name.to_owned(), colour, kinds, attributes })
}

fn attribute_of(label: &str, a: &AttributeInfo) -> CommandResult<AttributeSpec> {
    let name = a.name.trim();
    let bad = |why: String| CommandError::invalid(format!("{label}, attribute '{name}': {why}"));
    let kind = match a.kind.as_str() {
        "bool" => AttributeKind::Bool { default: a.default.as_bool().ok_or_else(|| bad("its default is yes or no".into()))? },
        "text" => AttributeKind::Text { default: a.default.as_str().unwrap_or_default().to_owned() },
        "enum" => {
            let options: Vec<String> = a.options.iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
            if options.is_empty() {
                return Err(bad("give it at least one choice".into()));
            }
            let default = match a.default.as_str().map(str::trim) {
                Some(d) if !d.is_empty() => d.to_owned(),
                _ => options[0].clone(),
            };
            AttributeKind::Enum { options, default }
        }
        "number" => {
            let (Some(min), Some(max)) = (a.min, a.max) else { return Err(bad("give its lowest and highest value".into())) };
            let default = a.default.as_f64().unwrap_or(min);
            AttributeKind::Number { min, max, step: a.step.unwrap_or(1.0), default }
        }
        other => return Err(bad(format!("'{other}' is not an attribute type (bool, enum, text, number)"))),
    };
    Ok(AttributeSpec { name: name.to_owned(), kind, per_frame: a.per_frame })
}
