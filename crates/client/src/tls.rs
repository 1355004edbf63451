//! The client side of the node API's TLS: a node is accepted only if its
//! self-signed certificate carries a key the client trusts, pinned in the
//! node's address (`https://HOST:PORT#KEY`); see `gpunet_api::tls` for the
//! server side.

use gpunet_primitives::Address;
use gpunet_types::{NodeAddress, TrustedKeys};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The ed25519 key of a DER SubjectPublicKeyInfo (RFC 8410: a fixed prefix,
/// then the key), or None for any other kind of key.
fn ed25519_key(spki: &[u8]) -> Option<Address> {
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let key = spki.strip_prefix(&PREFIX)?;
    Some(Address(key.try_into().ok()?))
}

/// Accepts a server whose certificate carries one of the trusted keys. The
/// handshake's signature proves the server holds that key's secret.
#[derive(Debug)]
struct PinnedKeys {
    trusted: TrustedKeys,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedKeys {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        let key = ed25519_key(cert.subject_public_key_info().as_ref());
        match key {
            Some(key) if self.trusted.contains(&key) => Ok(ServerCertVerified::assertion()),
            other => Err(rustls::Error::General(format!(
                "the node's certificate key {} is not the key pinned in its address",
                other.map_or_else(|| "(not ed25519)".to_string(), |k| k.to_string())
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// A TLS 1.3 client configuration that accepts only servers holding a
/// trusted key.
pub fn client_config(trusted: TrustedKeys) -> rustls::ClientConfig {
    let provider = provider();
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the ring provider supports TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedKeys { trusted, provider }))
        .with_no_client_auth()
}

/// An HTTP client that talks TLS 1.3 only to servers holding a trusted key.
pub fn http_client(trusted: TrustedKeys) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(client_config(trusted))
        .build()
        .expect("a client with a preconfigured TLS config builds")
}

/// An HTTP client for the nodes at `addresses` (others are refused).
pub fn http_client_for<'a>(
    addresses: impl IntoIterator<Item = &'a NodeAddress>,
) -> reqwest::Client {
    http_client(TrustedKeys::of(addresses))
}
