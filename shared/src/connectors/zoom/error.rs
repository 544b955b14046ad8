//! What can go wrong reading Zoom's data. Messages never carry tokens or secrets.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoomWireError {
    /// A body that is not what Zoom documents: JSON of the wrong shape, or a transcript that
    /// is not WebVTT.
    #[error("Zoom sent a {context} callsync cannot read: {detail}")]
    Decode {
        context: &'static str,
        detail: String,
    },
    /// A meeting that decodes but cannot become a stored recording (for example a uuid that
    /// is not a valid external id).
    #[error("the Zoom meeting cannot be stored: {0}")]
    InvalidMeeting(String),
}
