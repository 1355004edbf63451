//! Blobs: job inputs and outputs, stored for funded accounts, read by
//! the parties to an order.

use super::{
    bad_request, blocking_failed, drain_refused, fail, not_found, parse, request_error,
    signed_header, ApiResult, Binary,
};
use crate::blob_replication;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use gpunet_node::{wall_clock_ms, BlobError, BlobReadError, Node, ReadScope, UploadError};
use gpunet_primitives::{Hash, SignedBlobRead, SignedBlobUpload};
use gpunet_types::api::{
    BlobInfo, HolderProof, BLOB_READ_HEADER, LOCAL_ONLY_HEADER, UPLOAD_HEADER,
};
use gpunet_types::{ApiError, ErrorCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This module's routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<Node> {
    OpenApiRouter::new()
        .routes(routes!(put_blob))
        .routes(routes!(get_blob))
        .routes(routes!(holder_proof))
}

fn blob_error(e: BlobError) -> (StatusCode, Json<ApiError>) {
    match e {
        BlobError::HashMismatch { .. } => fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::HashMismatch,
            e.to_string(),
        ),
        BlobError::TooLarge { .. } => fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            e.to_string(),
        ),
        BlobError::DiskFull { .. } => fail(
            StatusCode::INSUFFICIENT_STORAGE,
            ErrorCode::DiskFull,
            e.to_string(),
        ),
        BlobError::Io(_) => fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Storage,
            e.to_string(),
        ),
    }
}

fn upload_error(e: UploadError) -> (StatusCode, Json<ApiError>) {
    let (status, code) = match &e {
        UploadError::Request(e) => request_error(e),
        UploadError::Unfunded(_) => (StatusCode::FORBIDDEN, ErrorCode::Unfunded),
        UploadError::OverQuota { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::OverQuota),
    };
    fail(status, code, e.to_string())
}

/// The upload request of `PUT /v1/blobs` (header [`UPLOAD_HEADER`]), admitted:
/// a current request of a funded account within its quota.
fn admitted_upload(node: &Node, headers: &HeaderMap) -> ApiResult<SignedBlobUpload> {
    let raw = headers.get(UPLOAD_HEADER).ok_or_else(|| {
        fail(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            format!("blobs are stored for an account's signed request ({UPLOAD_HEADER})"),
        )
    })?;
    let upload: SignedBlobUpload =
        signed_header(raw).ok_or_else(|| bad_request(format!("malformed {UPLOAD_HEADER}")))?;
    let ledger = node.ledger.read().expect("ledger lock");
    node.uploads
        .admit(&ledger, &upload, wall_clock_ms())
        .map_err(upload_error)?;
    Ok(upload)
}

/// Streams an upload into the blob store, for the account that signed its
/// request, and verifies it against the hash and size the request names.
#[utoipa::path(
    put, path = "/v1/blobs",
    tag = "blobs",
    params(("x-gpunet-upload" = String, Header, description = "The uploader's signed request (`SignedBlobUpload`, borsh, hex).")),
    request_body(description = "The blob's bytes.", content((Binary = "application/octet-stream"))),
    responses(
        (status = OK, description = "The blob is stored.", body = BlobInfo),
        (status = 400, description = "A malformed request or signature.", body = ApiError),
        (status = 401, description = "No upload request, or an expired one.", body = ApiError),
        (status = 403, description = "An account without funds.", body = ApiError),
        (status = 413, description = "Over the size the request named, or the limit.", body = ApiError),
        (status = 422, description = "The bytes do not hash to, or are not the size of, what the request named.", body = ApiError),
        (status = 429, description = "Over the account's quota.", body = ApiError),
        (status = 500, description = "The blob store failed.", body = ApiError),
        (status = 507, description = "The node's disk is full.", body = ApiError),
    )
)]
async fn put_blob(
    State(node): State<Node>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<BlobInfo>> {
    let mut stream = body.into_data_stream();
    let admitted = match admitted_upload(&node, &headers) {
        Ok(signed) => node
            .blobs
            .writer(signed.body.size)
            .await
            .map(|writer| (signed.body, writer))
            .map_err(blob_error),
        Err(refused) => Err(refused),
    };
    let (upload, mut writer) = match admitted {
        Ok(admitted) => admitted,
        Err(refused) => {
            drain_refused(&mut stream).await;
            return Err(refused);
        }
    };
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("upload interrupted: {e}")))?;
        received += chunk.len() as u64;
        if received > upload.size {
            return Err(fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                format!(
                    "the upload is larger than the {} bytes it announced",
                    upload.size
                ),
            ));
        }
        writer.write(&chunk).await.map_err(blob_error)?;
    }
    // The quota was charged for the announced size, and a reader trusts the
    // size an input names: a shorter body with the right hash is refused too.
    if received != upload.size {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            ErrorCode::SizeMismatch,
            format!(
                "the upload is {received} bytes, not the {} it announced",
                upload.size
            ),
        ));
    }
    let (hash, size) = writer.finish(Some(upload.hash)).await.map_err(blob_error)?;
    Ok(Json(BlobInfo { hash, size }))
}

fn blob_read_error(e: BlobReadError) -> (StatusCode, Json<ApiError>) {
    let (status, code) = match &e {
        BlobReadError::Request(e) => request_error(e),
        BlobReadError::UnknownOrder(_) | BlobReadError::Missing(_) => {
            (StatusCode::NOT_FOUND, ErrorCode::NotFound)
        }
        BlobReadError::NotAValidator(_)
        | BlobReadError::NotAParty { .. }
        | BlobReadError::NoHolderProof { .. }
        | BlobReadError::NotNamed { .. } => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
    };
    fail(status, code, e.to_string())
}

/// Checks the read request of a blob request (header [`BLOB_READ_HEADER`])
/// and that blob `hash` is in its scope (see [`gpunet_node::ReadScope`]);
/// returns the request. A blob, or the manifest that decides, that this node
/// lacks is first copied from a peer, which checks the same request.
async fn readable(node: &Node, headers: &HeaderMap, hash: Hash) -> ApiResult<SignedBlobRead> {
    let raw = headers.get(BLOB_READ_HEADER).ok_or_else(|| {
        fail(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            format!(
                "blobs are read with a request signed by a party to an order that names them ({BLOB_READ_HEADER})"
            ),
        )
    })?;
    let read: SignedBlobRead =
        signed_header(raw).ok_or_else(|| bad_request(format!("malformed {BLOB_READ_HEADER}")))?;
    let scope = {
        let ledger = node.ledger.read().expect("ledger lock");
        ReadScope::of(&ledger, &read, wall_clock_ms()).map_err(blob_read_error)?
    };
    if !headers.contains_key(LOCAL_ONLY_HEADER) {
        // A provider may have uploaded its outputs to another node.
        for needed in std::iter::once(hash).chain(scope.manifests_for(&hash)) {
            if !node.blobs.contains(&needed) {
                let fetched = blob_replication::fetch_from_peers(node, needed, raw).await;
                if let Err(blob_replication::PeerFetchError::Store(e)) = fetched {
                    tracing::warn!("blob {needed} cannot be stored here for its reader: {e}");
                }
            }
        }
    }
    let blobs = node.blobs.clone();
    tokio::task::spawn_blocking(move || scope.allows(&blobs, &hash))
        .await
        .map_err(blocking_failed)?
        .map_err(blob_read_error)?;
    Ok(read)
}

/// Streams blob `hash` to a reader it is in scope for.
#[utoipa::path(
    get, path = "/v1/blobs/{hash}",
    tag = "blobs",
    params(("hash" = Hash, Path, description = "The blob's BLAKE3 hash."), ("x-gpunet-blob-read" = String, Header, description = "The reader's signed request (`SignedBlobRead`, borsh, hex).")),
    responses(
        (status = OK, description = "The blob's bytes.", body = Binary, content_type = "application/octet-stream"),
        (status = 400, description = "A malformed hash, request or signature.", body = ApiError),
        (status = 401, description = "No read request, or an expired one.", body = ApiError),
        (status = 403, description = "The reader may not read it.", body = ApiError),
        (status = 404, description = "No such blob here or at any peer.", body = ApiError),
    )
)]
async fn get_blob(
    State(node): State<Node>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let hash: Hash = parse("hash", &raw)?;
    readable(&node, &headers, hash).await?;
    let file = tokio::fs::File::open(node.blobs.path(&hash))
        .await
        .map_err(|_| not_found(format!("no blob {hash}")))?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The proof that the reader holds blob `hash` (an input's `holder_proof`),
/// for a reader it is in scope for: a client names a file of one order's
/// result as an input of the next without downloading it.
#[utoipa::path(
    get, path = "/v1/blobs/{hash}/holder-proof",
    tag = "blobs",
    params(("hash" = Hash, Path, description = "The input blob's hash."), ("x-gpunet-blob-read" = String, Header, description = "The reader's signed request (`SignedBlobRead`, borsh, hex).")),
    responses(
        (status = OK, description = "The proof that the reader holds the blob.", body = HolderProof),
        (status = 400, description = "A malformed hash, request or signature.", body = ApiError),
        (status = 401, description = "No read request, or an expired one.", body = ApiError),
        (status = 403, description = "The reader may not read it.", body = ApiError),
        (status = 404, description = "No such blob.", body = ApiError),
    )
)]
async fn holder_proof(
    State(node): State<Node>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<HolderProof>> {
    let hash: Hash = parse("hash", &raw)?;
    let holder = readable(&node, &headers, hash).await?.signer;
    let blobs = node.blobs.clone();
    let secret = tokio::task::spawn_blocking(move || blobs.read_secret(&hash))
        .await
        .map_err(blocking_failed)?
        .ok_or_else(|| not_found(format!("no blob {hash}")))?;
    Ok(Json(HolderProof {
        blob: hash,
        holder,
        proof: secret.proof_for(&holder),
    }))
}
