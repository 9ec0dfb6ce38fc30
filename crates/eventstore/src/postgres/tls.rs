//! TLS to PostgreSQL, read from the connection string the way libpq reads it.
//!
//! [`ConnectionSettings::parse`] takes a libpq connection string (`key=value` text or a
//! `postgres://` URL), takes out the TLS parameters tokio-postgres does not know (`sslmode`'s
//! `verify-ca` and `verify-full`, `sslrootcert`), and gives back the driver's
//! [`tokio_postgres::Config`] with the [`MakeRustlsConnect`] connector that enforces the
//! [`SslMode`]:
//!
//! | `sslmode`            | TLS                         | certificate checked                      |
//! |----------------------|-----------------------------|------------------------------------------|
//! | `disable`            | never                       | -                                        |
//! | `allow`, `prefer`    | if the server offers it     | no (chain only when `sslrootcert` given) |
//! | `require`            | mandatory                   | no (chain only when `sslrootcert` given) |
//! | `verify-ca`          | mandatory                   | chain                                    |
//! | `verify-full`        | mandatory                   | chain and host name                      |
//!
//! The chain is checked against the certificates in the PEM file `sslrootcert` names, or
//! Mozilla's root set (`webpki-roots`) when it names none or says `system`. Over Unix-domain
//! sockets no TLS is attempted whatever the mode, as libpq does. Unlike libpq, `allow` tries
//! TLS first (as `prefer`), and a failed TLS handshake is not retried without TLS.
//!
//! Every connection of this crate goes through here, and the read models and leases of the
//! projections crate too: a `DATABASE_URL` with `sslmode=require` or `verify-full` works
//! everywhere.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as DriverSslMode;
pub use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;
use crate::error::with_causes;

/// The `sslrootcert` value that asks for the default trust roots instead of a file (libpq 16).
const SYSTEM_ROOTS: &str = "system";

/// libpq's `sslmode`: whether to use TLS, and how much of the server's certificate to check.
///
/// The default, when the connection string names none, is [`SslMode::Prefer`] (as libpq's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslMode {
    /// `disable`: never TLS.
    Disable,
    /// `allow`: TLS if the server offers it, unverified. libpq tries without TLS first; this
    /// tries TLS first, as [`SslMode::Prefer`].
    Allow,
    /// `prefer`: TLS if the server offers it; the certificate is not checked (its chain is
    /// when `sslrootcert` names a file).
    #[default]
    Prefer,
    /// `require`: TLS or no connection; the certificate is not checked (its chain is when
    /// `sslrootcert` names a file, as libpq does then).
    Require,
    /// `verify-ca`: TLS, and the certificate must chain to a trusted root; its name is not
    /// checked.
    VerifyCa,
    /// `verify-full`: TLS, the certificate must chain to a trusted root and name the host the
    /// connection string names.
    VerifyFull,
}

impl SslMode {
    /// The mode named `value` in a connection string (`disable`, `allow`, `prefer`, `require`,
    /// `verify-ca` or `verify-full`).
    pub fn from_libpq(value: &str) -> Result<Self, StoreError> {
        match value {
            "disable" => Ok(Self::Disable),
            "allow" => Ok(Self::Allow),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            _ => Err(StoreError::InvalidSslMode {
                value: value.to_owned(),
                reason: "expected disable, allow, prefer, require, verify-ca or verify-full",
            }),
        }
    }

    /// The mode's name in a connection string.
    pub fn as_libpq(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres is told: whether TLS is off, optional or mandatory.
    fn driver_mode(self) -> DriverSslMode {
        match self {
            Self::Disable => DriverSslMode::Disable,
            Self::Allow | Self::Prefer => DriverSslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => DriverSslMode::Require,
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_libpq())
    }
}

/// Where the trust roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCertificates {
    /// Mozilla's root set, built in (`webpki-roots`): no `sslrootcert`, or `sslrootcert=system`.
    Default,
    /// The certificates in this PEM file (`sslrootcert=<path>`).
    File(PathBuf),
}

impl RootCertificates {
    /// The file, if the roots come from one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Default => None,
            Self::File(path) => Some(path),
        }
    }
}

/// A connection string read the way libpq reads it: the driver's configuration, the TLS
/// settings, and the connector that enforces them.
///
/// ```
/// use crm_eventstore::postgres::tls::{ConnectionSettings, SslMode};
///
/// let settings = ConnectionSettings::parse(
///     "postgres://app@db.example.com/crm?sslmode=verify-full&application_name=crm",
/// )?;
/// assert_eq!(settings.ssl_mode(), SslMode::VerifyFull);
/// assert_eq!(settings.config().get_application_name(), Some("crm"));
/// // settings.config().connect(settings.tls()).await?;
/// # Ok::<(), crm_eventstore::StoreError>(())
/// ```
#[derive(Clone)]
pub struct ConnectionSettings {
    config: tokio_postgres::Config,
    ssl_mode: SslMode,
    roots: RootCertificates,
    tls: MakeRustlsConnect,
}

impl fmt::Debug for ConnectionSettings {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ConnectionSettings")
            .field("config", &self.config)
            .field("ssl_mode", &self.ssl_mode)
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

impl ConnectionSettings {
    /// Reads `connection`, a libpq connection string: `key=value` text
    /// (`host=db sslmode=verify-full sslrootcert=/etc/crm/root.pem`) or a URL
    /// (`postgres://app@db/crm?sslmode=verify-full&sslrootcert=/etc/crm/root.pem`). The last
    /// value of a repeated parameter wins, as in libpq.
    ///
    /// Reads the root certificate file now, so a wrong path fails here rather than at the
    /// first connection.
    ///
    /// Fails with [`StoreError::InvalidSslMode`] for an `sslmode` libpq does not know (or
    /// `sslrootcert=system` with a mode weaker than `verify-full`, which libpq refuses too),
    /// [`StoreError::UnreadableRootCertificate`] when `sslrootcert` names a file that cannot
    /// be read or holds no certificate, and [`StoreError::Unavailable`] when the rest of the
    /// string does not parse (with tokio-postgres's reason).
    pub fn parse(connection: &str) -> Result<Self, StoreError> {
        let split = split_tls_parameters(connection);
        let ssl_mode = match split.ssl_mode.as_deref() {
            None => SslMode::default(),
            Some(value) => SslMode::from_libpq(value)?,
        };
        let roots = match split.root_certificate.as_deref() {
            None | Some("") => RootCertificates::Default,
            Some(SYSTEM_ROOTS) => {
                if ssl_mode != SslMode::VerifyFull {
                    return Err(StoreError::InvalidSslMode {
                        value: ssl_mode.as_libpq().to_owned(),
                        reason: "sslrootcert=system needs sslmode=verify-full",
                    });
                }
                RootCertificates::Default
            }
            Some(path) => RootCertificates::File(PathBuf::from(path)),
        };
        let mut config: tokio_postgres::Config =
            split
                .rest
                .parse()
                .map_err(|error: tokio_postgres::Error| StoreError::Unavailable {
                    reason: format!("cannot read the connection string: {}", with_causes(&error)),
                    source: Some(Box::new(error)),
                })?;
        config.ssl_mode(if only_unix_sockets(&config) {
            DriverSslMode::Disable
        } else {
            ssl_mode.driver_mode()
        });
        let tls = MakeRustlsConnect::new(client_config(ssl_mode, &roots)?);
        Ok(Self {
            config,
            ssl_mode,
            roots,
            tls,
        })
    }

    /// The driver's configuration: everything but the TLS parameters, with tokio-postgres's
    /// own `sslmode` set to what the [`SslMode`] needs (off, optional or mandatory).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The `sslmode` the connection string asks for.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// Where the trust roots come from (used by `verify-ca` and `verify-full`, and by `prefer`
    /// and `require` when `sslrootcert` names a file).
    pub fn root_certificates(&self) -> &RootCertificates {
        &self.roots
    }

    /// The TLS connector to pass to [`tokio_postgres::Config::connect`] or
    /// `deadpool_postgres::Manager::from_config` (clones share its rustls configuration).
    pub fn tls(&self) -> MakeRustlsConnect {
        self.tls.clone()
    }
}

/// A connection string with `sslmode` and `sslrootcert` taken out.
#[derive(Debug, PartialEq, Eq)]
struct SplitConnection {
    /// The rest, for tokio-postgres.
    rest: String,
    /// The last `sslmode`, decoded.
    ssl_mode: Option<String>,
    /// The last `sslrootcert`, decoded.
    root_certificate: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of `connection`, in either form. Text this cannot
/// read is left as it is, for tokio-postgres's parser to report.
fn split_tls_parameters(connection: &str) -> SplitConnection {
    let url_body = connection
        .strip_prefix("postgres://")
        .or_else(|| connection.strip_prefix("postgresql://"));
    match url_body {
        Some(body) => split_url(connection, connection.len() - body.len()),
        None => split_key_values(connection),
    }
}

/// The URL form: the parameters are the `&`-separated `key=value` pairs after the first `?`
/// that follows the credentials (tokio-postgres, like libpq, takes everything before the first
/// `@` as credentials, so a `?` in a password does not start the query).
fn split_url(connection: &str, body_start: usize) -> SplitConnection {
    let body = &connection[body_start..];
    let after_credentials = body.find('@').map_or(0, |at| at + 1);
    let Some(question) = body[after_credentials..].find('?') else {
        return SplitConnection {
            rest: connection.to_owned(),
            ssl_mode: None,
            root_certificate: None,
        };
    };
    let query_start = body_start + after_credentials + question;
    let (head, query) = (&connection[..query_start], &connection[query_start + 1..]);
    let mut split = SplitConnection {
        rest: String::new(),
        ssl_mode: None,
        root_certificate: None,
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let taken = pair.split_once('=').and_then(|(key, value)| {
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8()
                .ok()?;
            let slot = match key.as_ref() {
                "sslmode" => &mut split.ssl_mode,
                "sslrootcert" => &mut split.root_certificate,
                _ => return None,
            };
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .ok()?;
            *slot = Some(value.into_owned());
            Some(())
        });
        if taken.is_none() {
            kept.push(pair);
        }
    }
    split.rest = if kept.is_empty() {
        head.to_owned()
    } else {
        format!("{head}?{}", kept.join("&"))
    };
    split
}

/// The `key=value` form: whitespace-separated pairs, a value quoted in `'` when it is empty or
/// holds spaces, `\` escaping the next character (tokio-postgres's grammar). The other pairs
/// are kept as written.
fn split_key_values(connection: &str) -> SplitConnection {
    let unchanged = || SplitConnection {
        rest: connection.to_owned(),
        ssl_mode: None,
        root_certificate: None,
    };
    let mut split = SplitConnection {
        rest: String::new(),
        ssl_mode: None,
        root_certificate: None,
    };
    let mut reader = KeyValueReader {
        text: connection,
        at: 0,
    };
    loop {
        let (key, value, span) = match reader.next_pair() {
            Next::End => break,
            Next::Broken => return unchanged(),
            Next::Pair(pair) => pair,
        };
        match key {
            "sslmode" => split.ssl_mode = Some(value),
            "sslrootcert" => split.root_certificate = Some(value),
            _ => {
                if !split.rest.is_empty() {
                    split.rest.push(' ');
                }
                split.rest.push_str(&connection[span.0..span.1]);
            }
        }
    }
    split
}

/// Reads `key=value` pairs one at a time.
struct KeyValueReader<'a> {
    text: &'a str,
    at: usize,
}

/// What comes next in `key=value` text.
enum Next<'a> {
    /// A pair: its key, its decoded value, and the byte span it takes in the text.
    Pair((&'a str, String, (usize, usize))),
    /// Nothing more.
    End,
    /// Text that breaks the grammar.
    Broken,
}

impl<'a> KeyValueReader<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.at += next.len_utf8();
        Some(next)
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// The next pair.
    fn next_pair(&mut self) -> Next<'a> {
        self.skip_whitespace();
        let start = self.at;
        while self.peek().is_some_and(|c| !c.is_whitespace() && c != '=') {
            self.bump();
        }
        if self.at == start {
            return if self.peek().is_none() {
                Next::End
            } else {
                Next::Broken
            };
        }
        let key = &self.text[start..self.at];
        self.skip_whitespace();
        if self.bump() != Some('=') {
            return Next::Broken;
        }
        self.skip_whitespace();
        match self.value() {
            Some(value) => Next::Pair((key, value, (start, self.at))),
            None => Next::Broken,
        }
    }

    /// A value, quoted or not, with its escapes resolved; `None` when it is missing or its
    /// quote is not closed.
    fn value(&mut self) -> Option<String> {
        let mut value = String::new();
        if self.peek() == Some('\'') {
            self.bump();
            loop {
                match self.bump()? {
                    '\'' => return Some(value),
                    '\\' => value.push(self.bump()?),
                    c => value.push(c),
                }
            }
        }
        while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
            self.bump();
            if c == '\\' {
                if let Some(escaped) = self.bump() {
                    value.push(escaped);
                }
            } else {
                value.push(c);
            }
        }
        (!value.is_empty()).then_some(value)
    }
}

/// Whether every host is a Unix-domain socket (libpq never uses TLS there, whatever the mode).
fn only_unix_sockets(config: &tokio_postgres::Config) -> bool {
    #[cfg(unix)]
    {
        let hosts = config.get_hosts();
        !hosts.is_empty()
            && config.get_hostaddrs().is_empty()
            && hosts
                .iter()
                .all(|host| matches!(host, tokio_postgres::config::Host::Unix(_)))
    }
    #[cfg(not(unix))]
    {
        let _ = config;
        false
    }
}

/// The rustls client configuration for `mode`: which certificate checks its verifier makes.
fn client_config(mode: SslMode, roots: &RootCertificates) -> Result<ClientConfig, StoreError> {
    // rustls 0.23.48 deprecates its ring provider for lacking post-quantum key exchange; ring
    // is kept on purpose (no C build of aws-lc); the key exchange stays classical ECDHE
    // (X25519, P-256, P-384), which every PostgreSQL server supports.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (SslMode::Disable, _)
        | (SslMode::Allow | SslMode::Prefer | SslMode::Require, RootCertificates::Default) => {
            Arc::new(AnyCertificate {
                provider: Arc::clone(&provider),
            })
        }
        (SslMode::Allow | SslMode::Prefer | SslMode::Require | SslMode::VerifyCa, roots) => {
            Arc::new(ChainOnly {
                roots: load_roots(roots)?,
                provider: Arc::clone(&provider),
            })
        }
        (SslMode::VerifyFull, roots) => WebPkiServerVerifier::builder_with_provider(
            Arc::new(load_roots(roots)?),
            Arc::clone(&provider),
        )
        .build()
        .map_err(|error| root_error(roots, "no usable trust root", error))?,
    };
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| StoreError::Unavailable {
            reason: format!("cannot set up TLS: {error}"),
            source: Some(Box::new(error)),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The trust roots: Mozilla's set, or every certificate of a PEM file.
fn load_roots(roots: &RootCertificates) -> Result<RootCertStore, StoreError> {
    let path = match roots {
        RootCertificates::Default => {
            return Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            });
        }
        RootCertificates::File(path) => path,
    };
    let pem = std::fs::read(path).map_err(|error| root_error(roots, "cannot read it", error))?;
    let mut store = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate =
            certificate.map_err(|error| root_error(roots, "not a PEM certificate file", error))?;
        store
            .add(certificate)
            .map_err(|error| root_error(roots, "not a usable root certificate", error))?;
    }
    if store.is_empty() {
        return Err(StoreError::UnreadableRootCertificate {
            path: path.clone(),
            reason: "it holds no PEM certificate".to_owned(),
            source: None,
        });
    }
    Ok(store)
}

fn root_error(
    roots: &RootCertificates,
    what: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    let path = match roots {
        RootCertificates::File(path) => path.clone(),
        RootCertificates::Default => PathBuf::from(SYSTEM_ROOTS),
    };
    StoreError::UnreadableRootCertificate {
        path,
        reason: format!("{what}: {}", with_causes(&error)),
        source: Some(Box::new(error)),
    }
}

/// `prefer` and `require` without a root file: any certificate is accepted (libpq checks none
/// then), but the handshake must still be signed by the certificate's key.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
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
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `verify-ca` (and `prefer`/`require` with a root file): the certificate must chain to a
/// trusted root and be valid now; the name it is for is not checked.
#[derive(Debug)]
struct ChainOnly {
    roots: RootCertStore,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let certificate = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &certificate,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(connection: &str) -> (String, Option<String>, Option<String>) {
        let split = split_tls_parameters(connection);
        (split.rest, split.ssl_mode, split.root_certificate)
    }

    #[test]
    fn the_tls_parameters_are_taken_out_of_key_value_text() {
        assert_eq!(
            split(
                "host=db  sslmode=verify-full user=app sslrootcert='/etc/my certs/root.pem' \
                 password='a b\\'c'"
            ),
            (
                "host=db user=app password='a b\\'c'".to_owned(),
                Some("verify-full".to_owned()),
                Some("/etc/my certs/root.pem".to_owned()),
            )
        );
        assert_eq!(
            split("sslmode = require host=db sslmode=disable"),
            ("host=db".to_owned(), Some("disable".to_owned()), None),
            "the last value wins, spaces around = are allowed"
        );
        assert_eq!(split("host=db"), ("host=db".to_owned(), None, None));
    }

    #[test]
    fn the_tls_parameters_are_taken_out_of_a_url() {
        assert_eq!(
            split(
                "postgres://app:p%3Fw@db:5432/crm?sslmode=verify-full&connect_timeout=5&\
                 sslrootcert=%2Fetc%2Froot.pem"
            ),
            (
                "postgres://app:p%3Fw@db:5432/crm?connect_timeout=5".to_owned(),
                Some("verify-full".to_owned()),
                Some("/etc/root.pem".to_owned()),
            )
        );
        assert_eq!(
            split("postgresql://db/crm?sslmode=require"),
            (
                "postgresql://db/crm".to_owned(),
                Some("require".to_owned()),
                None
            )
        );
        assert_eq!(
            split("postgresql://u:pa?ss@db/crm?sslmode=disable"),
            (
                "postgresql://u:pa?ss@db/crm".to_owned(),
                Some("disable".to_owned()),
                None
            ),
            "a ? in the credentials does not start the query"
        );
        assert_eq!(
            split("postgresql://db/crm"),
            ("postgresql://db/crm".to_owned(), None, None)
        );
    }

    #[test]
    fn broken_text_is_left_for_the_driver_to_report() {
        for text in ["host=db sslmode", "host='db sslmode=require", "=x"] {
            assert_eq!(split(text), (text.to_owned(), None, None), "{text}");
        }
        assert!(matches!(
            ConnectionSettings::parse("host=db sslmode"),
            Err(StoreError::Unavailable { .. })
        ));
    }

    #[test]
    fn every_libpq_mode_is_understood_and_others_are_refused() {
        for (text, mode, driver) in [
            ("disable", SslMode::Disable, DriverSslMode::Disable),
            ("allow", SslMode::Allow, DriverSslMode::Prefer),
            ("prefer", SslMode::Prefer, DriverSslMode::Prefer),
            ("require", SslMode::Require, DriverSslMode::Require),
            ("verify-ca", SslMode::VerifyCa, DriverSslMode::Require),
            ("verify-full", SslMode::VerifyFull, DriverSslMode::Require),
        ] {
            let settings = ConnectionSettings::parse(&format!("host=db sslmode={text}"))
                .expect("a libpq mode");
            assert_eq!(settings.ssl_mode(), mode);
            assert_eq!(settings.config().get_ssl_mode(), driver, "{text}");
            assert_eq!(mode.to_string(), text);
        }
        let defaulted = ConnectionSettings::parse("postgres://db/crm").expect("no sslmode");
        assert_eq!(defaulted.ssl_mode(), SslMode::Prefer);
        assert_eq!(defaulted.root_certificates(), &RootCertificates::Default);

        let refused = ConnectionSettings::parse("postgres://db/crm?sslmode=verify_full");
        assert!(
            matches!(&refused, Err(StoreError::InvalidSslMode { value, .. }) if value == "verify_full"),
            "{refused:?}"
        );
        let weak_system = ConnectionSettings::parse("host=db sslmode=require sslrootcert=system");
        assert!(matches!(
            weak_system,
            Err(StoreError::InvalidSslMode { .. })
        ));
        ConnectionSettings::parse("host=db sslmode=verify-full sslrootcert=system")
            .expect("the default roots");
    }

    #[test]
    fn unix_sockets_never_use_tls() {
        let settings =
            ConnectionSettings::parse("host=/var/run/postgresql sslmode=require").expect("parse");
        assert_eq!(settings.ssl_mode(), SslMode::Require);
        assert_eq!(settings.config().get_ssl_mode(), DriverSslMode::Disable);
    }

    #[test]
    fn a_missing_or_empty_root_file_is_refused() {
        let missing = ConnectionSettings::parse(
            "host=db sslmode=verify-ca sslrootcert=/nonexistent/crm/root.pem",
        );
        assert!(
            matches!(&missing, Err(StoreError::UnreadableRootCertificate { path, reason, .. })
                if path == Path::new("/nonexistent/crm/root.pem") && reason.contains("cannot read")),
            "{missing:?}"
        );
        let empty = std::env::temp_dir().join(format!("crm-empty-root-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").expect("write a temporary file");
        let refused = ConnectionSettings::parse(&format!(
            "host=db sslmode=require sslrootcert={}",
            empty.display()
        ));
        let _ = std::fs::remove_file(&empty);
        assert!(
            matches!(&refused, Err(StoreError::UnreadableRootCertificate { reason, .. })
                if reason.contains("no PEM certificate")),
            "{refused:?}"
        );
        // Under `disable` the file is not read, as in libpq.
        ConnectionSettings::parse("host=db sslmode=disable sslrootcert=/nonexistent/root.pem")
            .expect("disable reads no root file");
    }
}
