//! The sources callsync can connect, each with its connector, built once per process from
//! configuration and secrets.

use super::Connector;
use crate::domain::Source;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Registry {
    connectors: Vec<Arc<dyn Connector>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.connectors.iter().map(|c| c.source()))
            .finish()
    }
}

impl Registry {
    pub fn new(connectors: Vec<Arc<dyn Connector>>) -> Self {
        Registry { connectors }
    }

    /// The connector of `source`, when it is one a user connects.
    pub fn get(&self, source: Source) -> Option<&dyn Connector> {
        self.connectors
            .iter()
            .find(|c| c.source() == source)
            .map(|c| c.as_ref())
    }

    /// Every connector, in the order a dashboard lists them.
    pub fn all(&self) -> impl Iterator<Item = &dyn Connector> {
        self.connectors.iter().map(|c| c.as_ref())
    }
}
