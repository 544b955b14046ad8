//! Changing a connection safely while other workers change it too.

use crate::domain::{Connection, ConnectionId};
use crate::ports::ConnectionStore;
use anyhow::{bail, Context, Result};

/// Applies `change` to the latest stored version of the connection, retrying when another
/// writer got there first; returns the connection as written.
pub async fn update_connection(
    store: &dyn ConnectionStore,
    id: &ConnectionId,
    mut change: impl FnMut(&mut Connection),
) -> Result<Connection> {
    for _ in 0..20 {
        let mut connection = store
            .get(id)
            .await?
            .with_context(|| format!("connection {id} is gone"))?;
        change(&mut connection);
        if store.replace(&connection).await? {
            connection.version += 1;
            return Ok(connection);
        }
    }
    bail!("connection {id} kept changing under 20 attempts to update it")
}
