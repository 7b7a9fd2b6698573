//! TLS configuration: how the run's client sessions and the built-in server's sessions are
//! made (trust, versions, ALPN, SNI; the server's certificate), and why a handshake failed
//! ([`TlsFailure`]). The sessions themselves are driven by `transport`, one drive loop for
//! both ends.
//!
//! The crypto provider is *ring*, which builds with a C compiler alone (aws-lc-rs wants
//! cmake). Session resumption is off: every handshake is a full one, which is the cost a
//! server pays for a new client, and a cache would cost memory per connection.
//!
//! May import nothing of the engine: `transport` holds the sessions made here, and the
//! connection maps a [`TlsFailure`] to its failure cause.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, Connection, DigitallySignedStruct,
    RootCertStore, ServerConfig, ServerConnection, SignatureScheme, SupportedProtocolVersion,
};

/// Which protocol versions to offer (`--tls-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Versions {
    #[default]
    Both,
    Tls12,
    Tls13,
}

impl Versions {
    fn list(self) -> &'static [&'static SupportedProtocolVersion] {
        static TLS12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            Versions::Both => rustls::ALL_VERSIONS,
            Versions::Tls12 => &TLS12,
            Versions::Tls13 => &TLS13,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Versions::Both => "1.2,1.3",
            Versions::Tls12 => "1.2",
            Versions::Tls13 => "1.3",
        }
    }
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's roots (rustls-native-certs: the same store openssl and curl read).
    System,
    /// The certificates of this PEM file only (`--ca`).
    File(std::path::PathBuf),
    /// Not checked at all (`--insecure`).
    Insecure,
}

/// The client side of a run, as resolved: what every connection's session is made from.
#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("name", &self.name).finish()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Client {
    /// `sni`: the name to send and check the certificate against; `None` to check it
    /// against `ip`, sending no name (an address is never sent as SNI).
    pub fn new(
        trust: &Trust,
        versions: Versions,
        alpn: &[Vec<u8>],
        sni: Option<&str>,
        ip: IpAddr,
    ) -> Result<Client, String> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions.list())
            .map_err(|e| format!("TLS: {e}"))?;
        let mut config = match trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification::new()))
                .with_no_client_auth(),
            Trust::System => builder
                .with_root_certificates(system_roots()?)
                .with_no_client_auth(),
            Trust::File(path) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinning::from(path)?))
                .with_no_client_auth(),
        };
        config.alpn_protocols = alpn.to_vec();
        config.resumption = rustls::client::Resumption::disabled();
        let name = match sni {
            Some(sni) => ServerName::try_from(sni.to_string())
                .map_err(|_| format!("--sni: '{sni}' is not a valid server name"))?,
            None => ServerName::IpAddress(ip.into()),
        };
        Ok(Client {
            config: Arc::new(config),
            name,
        })
    }

    /// A new session, its ClientHello ready to be written.
    pub fn session(&self) -> Result<Connection, TlsFailure> {
        ClientConnection::new(self.config.clone(), self.name.clone())
            .map(Connection::Client)
            .map_err(|e| TlsFailure::of(&e))
    }
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(
            "TLS: no CA certificates found on this system: --ca FILE names the ones to trust, \
             --insecure trusts any"
                .to_string(),
        );
    }
    Ok(roots)
}

/// `--ca FILE`: the server's certificate is verified against the file's certificates as
/// roots, as a browser would; and, as curl does (OpenSSL trusts a certificate found in its
/// store as it is), a server whose certificate is byte for byte one of them is taken
/// without an issuer: that covers `openssl req -x509`'s default self-signed certificate
/// (a CA's, which webpki refuses as a server's own) and a leaf given without its CA. Its
/// dates and its name are still checked: webpki checks the dates before it looks for an
/// issuer, so an unknown issuer or a CA's certificate means the dates were good.
#[derive(Debug)]
struct Pinning {
    roots: Arc<rustls::client::WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

/// The most of a `--ca` file read: 16 MiB, about seventy times Debian's whole CA store.
/// A file larger is not a CA bundle, and reading it all would take memory without bound.
pub const CA_FILE_MAX: u64 = 16 << 20;

impl Pinning {
    fn from(path: &Path) -> Result<Pinning, String> {
        let shown = path.display().to_string();
        Pinning::from_pem(&read_ca_file(path, &shown)?, &shown)
    }

    /// The certificates of `pem`, the text of the `--ca` file shown as `shown`.
    fn from_pem(pem: &[u8], shown: &str) -> Result<Pinning, String> {
        let mut roots = RootCertStore::empty();
        let mut pinned = Vec::new();
        for (n, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let cert = cert.map_err(|e| format!("--ca '{shown}': {}", pem_error(&e)))?;
            roots.add(cert.clone()).map_err(|e| {
                let why = match e {
                    rustls::Error::InvalidCertificate(why) => words(&format!("{why:?}")),
                    other => other.to_string(),
                };
                format!(
                    "--ca '{shown}': its certificate {} cannot be used as a CA's: {why}",
                    n + 1
                )
            })?;
            pinned.push(cert);
        }
        if roots.is_empty() {
            return Err(format!("--ca '{shown}': no certificate in it"));
        }
        let roots =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .map_err(|e| format!("--ca '{shown}': {e}"))?;
        Ok(Pinning { roots, pinned })
    }
}

/// A PEM file's fault in words: the parser's own message prints a faulty line as a list of
/// byte values, which for a file of one long line is a line of many megabytes.
fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { .. } => "a PEM section has no END line".to_string(),
        Error::IllegalSectionStart { .. } => {
            "a line begins as a PEM section and is not one".to_string()
        }
        Error::Base64Decode(why) => format!("a PEM section is not base64 ({})", words(why)),
        other => other.to_string(),
    }
}

/// The bytes of a `--ca` file: a regular file of at most [`CA_FILE_MAX`] bytes. It is opened
/// non-blocking, so a FIFO with no writer is refused at once instead of waiting for one, and
/// a device (`/dev/zero`) is refused before a byte of it is read.
fn read_ca_file(path: &Path, shown: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("--ca '{shown}': {e}"))?;
    let regular = file
        .metadata()
        .map_err(|e| format!("--ca '{shown}': {e}"))?
        .is_file();
    if !regular {
        return Err(format!(
            "--ca '{shown}': not a regular file: give a PEM file of certificates"
        ));
    }
    let mut pem = Vec::new();
    file.take(CA_FILE_MAX + 1)
        .read_to_end(&mut pem)
        .map_err(|e| format!("--ca '{shown}': {e}"))?;
    if pem.len() as u64 > CA_FILE_MAX {
        return Err(format!(
            "--ca '{shown}': larger than 16 MiB, which no bundle of CA certificates is"
        ));
    }
    Ok(pem)
}

/// What `--ca` makes of a file's bytes, for the fuzz target: the certificates it pins (each
/// also a root), in the file's order; or why the file is refused, in one line.
pub fn ca_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    Pinning::from_pem(pem, "FILE").map(|p| p.pinned)
}

impl ServerCertVerifier for Pinning {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.roots.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        // No issuer, or a CA's certificate, or one whose issuer's name is its own but not
        // its key (a leaf named as its CA): its dates were good, and its chain is moot.
        let without_issuer = matches!(
            &verified,
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
                    | CertificateError::BadSignature
                    | CertificateError::Other(_)
            ))
        );
        if without_issuer
            && self
                .pinned
                .iter()
                .any(|c| c.as_ref() == end_entity.as_ref())
        {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        verified
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.roots.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.roots.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.roots.supported_verify_schemes()
    }
}

/// `--insecure`: any certificate is taken; the handshake's signatures are still checked,
/// so the session is a real one. Public for the TLS floor (benches/tls_floor.rs), which
/// must verify as little as a run does.
#[derive(Debug)]
pub struct NoVerification(WebPkiSupportedAlgorithms);

impl NoVerification {
    /// With the signature algorithms of the provider runs use (ring).
    pub fn new() -> NoVerification {
        NoVerification(provider().signature_verification_algorithms)
    }
}

impl Default for NoVerification {
    fn default() -> NoVerification {
        NoVerification::new()
    }
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server sent an alert; its description, in words.
    Alert(String),
    /// The server's certificate was rejected; why, in words.
    Certificate(String),
    /// What arrived is not TLS, or not what the protocol allows.
    Protocol(String),
    /// The peer closed or reset the connection before the handshake was done.
    Closed,
}

impl TlsFailure {
    pub fn of(e: &rustls::Error) -> TlsFailure {
        match e {
            rustls::Error::AlertReceived(alert) => TlsFailure::Alert(words(&format!("{alert:?}"))),
            rustls::Error::InvalidCertificate(why) => TlsFailure::Certificate(rejection(why)),
            other => TlsFailure::Protocol(other.to_string()),
        }
    }

    /// One line for the report: `certificate: unknown issuer`, `alert: handshake failure`.
    pub fn detail(&self) -> String {
        match self {
            TlsFailure::Alert(alert) => format!("alert: {alert}"),
            TlsFailure::Certificate(why) => format!("certificate: {why}"),
            TlsFailure::Protocol(what) => format!("protocol error: {what}"),
            TlsFailure::Closed => "closed during handshake".to_string(),
        }
    }
}

/// The server's certificate rejected, in words, so the report reads without rustls's
/// names. [`certificate_hint`] knows these words.
fn rejection(why: &CertificateError) -> String {
    const IS: &str = "the server's certificate";
    match why {
        CertificateError::UnknownIssuer => format!("{IS} {UNKNOWN_ISSUER}"),
        CertificateError::Other(other) if other.to_string() == "CaUsedAsEndEntity" => {
            format!("{IS} {CA_AS_SERVER}")
        }
        CertificateError::NotValidForNameContext { expected, .. } => {
            let name = match expected {
                ServerName::DnsName(name) => name.as_ref().to_string(),
                ServerName::IpAddress(ip) => IpAddr::from(*ip).to_string(),
                _ => "asked for".to_string(),
            };
            format!("{IS} {NAME} '{name}'")
        }
        CertificateError::NotValidForName => format!("{IS} {NAME} asked for"),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("{IS} {EXPIRED}")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("{IS} {NOT_YET_VALID}")
        }
        CertificateError::BadSignature => format!("{IS} has a signature that does not verify"),
        CertificateError::Revoked => format!("{IS} is revoked"),
        CertificateError::BadEncoding => format!("{IS} is not a well-formed certificate"),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("{IS} is not for a TLS server (its extended key usage)")
        }
        CertificateError::Other(other) => format!("{IS} is refused: {}", words(&other.to_string())),
        other => format!("{IS} is refused: {}", words(&format!("{other:?}"))),
    }
}

const UNKNOWN_ISSUER: &str = "is signed by an issuer not in --ca or the system's roots";
const CA_AS_SERVER: &str = "is a CA's certificate, and not one of --ca's";
const NAME: &str = "is not valid for the name";
const EXPIRED: &str = "has expired";
const NOT_YET_VALID: &str = "is not valid yet";

/// What to do about a certificate rejected for `detail` (a [`TlsFailure::detail`]): trust
/// its issuer for an unknown one, but not for dates or a name, which no `--ca` mends.
pub fn certificate_hint(detail: &str) -> &'static str {
    if detail.contains(EXPIRED) || detail.contains(NOT_YET_VALID) {
        "the server's certificate is out of its dates (renew it, or check both clocks); \
         --insecure checks none"
    } else if detail.contains(NAME) {
        "--sni NAME checks the certificate against a name it holds, --insecure checks none"
    } else if detail.contains(UNKNOWN_ISSUER) || detail.contains(CA_AS_SERVER) {
        "--ca FILE trusts the CA (or the certificate) the server uses, --insecure checks none"
    } else {
        "--insecure checks none"
    }
}

/// `UnknownIssuer` → `unknown issuer`; a payload in parentheses is dropped.
fn words(debug: &str) -> String {
    let name = debug.split(['(', ' ', '{']).next().unwrap_or(debug);
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push(' ');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The built-in server's TLS: a certificate and its key.
#[derive(Clone)]
pub struct Server {
    config: Arc<ServerConfig>,
    /// The certificate's SHA-256, in hex with colons, as openssl prints it.
    pub fingerprint: String,
    /// The certificate, PEM, when the server made it.
    pub made_pem: Option<String>,
    /// Its key, PEM, when the server made it: what a worker of the same server is given,
    /// so that every worker serves the one certificate made at start.
    pub made_key_pem: Option<String>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl PartialEq for Server {
    fn eq(&self, other: &Server) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Server {
    /// From `--cert` and `--key`, PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Server, String> {
        let shown = cert.display();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| format!("--cert '{shown}': {e}"))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--cert '{shown}': {e}"))?;
        if certs.is_empty() {
            return Err(format!("--cert '{shown}': no certificate in it"));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("--key '{}': {e}", key.display()))?;
        Server::with(certs, key, None)
    }

    /// A self-signed certificate for localhost, 127.0.0.1 and ::1, made now.
    pub fn self_signed() -> Result<Server, String> {
        let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| format!("cannot make a certificate: {e}"))?;
        let key = PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
        let pem = made.cert.pem();
        let mut server = Server::with(vec![made.cert.der().clone()], key, Some(pem))?;
        server.made_key_pem = Some(made.signing_key.serialize_pem());
        Ok(server)
    }

    /// The certificate another process made at start ([`Server::self_signed`]), from its
    /// `made_pem` and `made_key_pem`.
    pub fn from_made(cert_pem: &str, key_pem: &str) -> Result<Server, String> {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("the certificate made at start: {e}"))?;
        if certs.is_empty() {
            return Err("the certificate made at start: no certificate in it".to_string());
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| format!("the key made at start: {e}"))?;
        let mut server = Server::with(certs, key, Some(cert_pem.to_string()))?;
        server.made_key_pem = Some(key_pem.to_string());
        Ok(server)
    }

    fn with(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        made_pem: Option<String>,
    ) -> Result<Server, String> {
        let fingerprint = ring::digest::digest(&ring::digest::SHA256, &certs[0])
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("TLS: the certificate and key do not make a pair: {e}"))?;
        // No tickets: each client is new, as the run's clients never resume.
        config.send_tls13_tickets = 0;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Server {
            config: Arc::new(config),
            fingerprint,
            made_pem,
            made_key_pem: None,
        })
    }

    /// A session for an accepted socket, waiting for its ClientHello.
    pub fn session(&self) -> Result<Connection, TlsFailure> {
        ServerConnection::new(self.config.clone())
            .map(Connection::Server)
            .map_err(|e| TlsFailure::of(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_made_at_start_is_served_again_from_its_pems() {
        let made = Server::self_signed().unwrap();
        let again = Server::from_made(
            made.made_pem.as_deref().unwrap(),
            made.made_key_pem.as_deref().unwrap(),
        )
        .unwrap();
        assert_eq!(again.fingerprint, made.fingerprint);
        assert!(again.session().is_ok());
        assert!(Server::from_made("", made.made_key_pem.as_deref().unwrap()).is_err());
    }

    #[test]
    fn alert_names_read_as_words() {
        assert_eq!(words("HandshakeFailure"), "handshake failure");
        assert_eq!(words("Unknown(200)"), "unknown");
        assert_eq!(words("UnknownIssuer"), "unknown issuer");
    }

    #[test]
    fn certificate_rejections_read_as_words_with_the_hint_that_fits() {
        let said = |why: CertificateError| {
            TlsFailure::of(&rustls::Error::InvalidCertificate(why)).detail()
        };
        let expired = said(CertificateError::Expired);
        assert_eq!(expired, "certificate: the server's certificate has expired");
        assert!(!certificate_hint(&expired).contains("--ca"));
        let name = said(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("localhost").unwrap(),
            presented: vec![],
        });
        assert_eq!(
            name,
            "certificate: the server's certificate is not valid for the name 'localhost'"
        );
        assert!(certificate_hint(&name).starts_with("--sni"));
        let issuer = said(CertificateError::UnknownIssuer);
        assert!(issuer.contains("an issuer not in --ca"), "{issuer}");
        assert!(certificate_hint(&issuer).starts_with("--ca FILE"));
        let not_yet = said(CertificateError::NotValidYet);
        assert!(!certificate_hint(&not_yet).contains("--ca"));
        assert!(!said(CertificateError::UnhandledCriticalExtension).contains("Unhandled"));
    }
}
