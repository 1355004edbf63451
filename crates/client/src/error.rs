use gpunet_api::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node answered with an error.
    #[error("node refused: {0}")]
    Api(ApiError),
    #[error("cannot reach the node at {url}: {source}. Is `gpunet node` or `gpunet devnet` running there?")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("bad response from the node: {0}")]
    BadResponse(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

impl ClientError {
    /// The API error code, when the node refused the request.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api(e) => Some(&e.code),
            _ => None,
        }
    }
}
