//! Who data belongs to: a member of a workspace. Everything stored is scoped by workspace;
//! connections, jobs and uploads belong to one member, and recordings to the member whose
//! connection (or upload) imported them, readable by the whole workspace when shared.

use super::ids::{UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

/// A member of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tenant {
    pub workspace: WorkspaceId,
    pub user: UserId,
}

impl Tenant {
    pub fn new(workspace: WorkspaceId, user: UserId) -> Self {
        Tenant { workspace, user }
    }

    /// The user alone, in the workspace every user has for themselves.
    pub fn personal(user: UserId) -> Self {
        Tenant {
            workspace: personal_workspace(&user),
            user,
        }
    }

    /// A member named by a message or key that may predate workspaces: without a workspace,
    /// the user's personal one (where everything from before lives).
    pub fn named(workspace: Option<WorkspaceId>, user: UserId) -> Self {
        match workspace {
            Some(workspace) => Tenant { workspace, user },
            None => Tenant::personal(user),
        }
    }

    /// Whether this is the user's own personal workspace.
    pub fn is_personal(&self) -> bool {
        self.workspace == personal_workspace(&self.user)
    }
}

/// What every personal workspace's id starts with.
pub const PERSONAL_PREFIX: &str = "personal:";

/// `{workspace} {user}`: unambiguous, since neither id has whitespace. What scopes a member's
/// keys, cursors and log lines.
impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.workspace, self.user)
    }
}

/// The id of `user`'s personal workspace. A token naming a workspace with this prefix is
/// refused (`http::caller`), so a team workspace and a personal one never meet.
pub fn personal_workspace(user: &UserId) -> WorkspaceId {
    WorkspaceId::parse(&format!("{PERSONAL_PREFIX}{user}"))
        .expect("a user id with the prefix is a valid workspace id")
}

/// A member's standing in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
}

/// Who can read what a connection (or an upload) imports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// Every member of the workspace.
    Workspace,
    /// Its owner only.
    #[default]
    Private,
}

impl Sharing {
    /// What a new connection or upload gets: shared in a team workspace, private in a
    /// personal one.
    pub fn default_for(tenant: &Tenant) -> Sharing {
        if tenant.is_personal() {
            Sharing::Private
        } else {
            Sharing::Workspace
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sharing::Workspace => "workspace",
            Sharing::Private => "private",
        }
    }
}
