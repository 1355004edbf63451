use gpunet_types::ApiError;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node answered with an error.
    #[error("node refused: {0}")]
    Api(ApiError),
    /// No node of the address list answered (refused, timed out, or a TLS
    /// key other than the pinned one).
    #[error("cannot reach the node at {url}: {}. Is `gpunet node` or `gpunet devnet` running there, with the key in its address?", with_causes(error))]
    Unreachable {
        /// The last node tried.
        url: String,
        /// Why it could not be reached.
        error: reqwest::Error,
    },
    /// The node answered with something that is not what the API says.
    #[error("bad response from the node: {0}")]
    BadResponse(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// What the caller gave is not usable (a job file, an address, an amount).
    #[error("{0}")]
    Invalid(String),
    /// A result's files could not be had from the peer that keeps them.
    #[error("{0}")]
    DataPlane(String),
    /// A pushed image cannot be used.
    #[error(transparent)]
    Image(#[from] crate::images::ImageError),
    /// A session in a rental could not open or broke: refused by its
    /// provider, its provider unreachable, or the rental not running.
    #[error("{0}")]
    RentalSession(String),
    /// No node known had committed a block the caller saw (in an event, or
    /// on another node) in the time it waited.
    #[error(
        "the node at {url} is at height {at}, behind height {wanted}, and no other known node \
         caught up in time"
    )]
    Behind {
        /// The last node asked.
        url: String,
        /// The height it was at.
        at: u64,
        /// The height the caller needs.
        wanted: u64,
    },
}

/// An error and its causes, outermost first: reqwest's own message hides
/// why a connection failed (refused, or a TLS key that is not the pinned one).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let message = c.to_string();
        if !text.contains(&message) {
            text = format!("{text}: {message}");
        }
        cause = c.source();
    }
    text
}

impl ClientError {
    /// A stable code for what went wrong: the node's own when it refused
    /// (see the API's error codes), else one per kind of failure here.
    pub fn stable_code(&self) -> &str {
        match self {
            ClientError::Api(e) => &e.code,
            ClientError::Unreachable { .. } => "unreachable",
            ClientError::BadResponse(_) => "bad_response",
            ClientError::Io(_) => "io",
            ClientError::Invalid(_) => "invalid",
            ClientError::DataPlane(_) => "data_plane",
            ClientError::Image(_) => "image",
            ClientError::RentalSession(_) => "rental_session",
            ClientError::Behind { .. } => "behind",
        }
    }

    /// The API error code, when the node refused the request.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api(e) => Some(&e.code),
            _ => None,
        }
    }
}
