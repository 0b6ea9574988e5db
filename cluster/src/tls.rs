//! TLS with mutual authentication for both cluster links: the membership link
//! (ractor_cluster) and the forwarding link (`link`).
//!
//! Every node holds a certificate signed by the cluster's CA, and both ends of every
//! connection verify the other's against that CA: the dialing node checks that the peer's
//! certificate names [`SERVER_NAME`], and the accepting node asks for a client certificate
//! and refuses a connection without one (`WebPkiClientVerifier`). The cookie handshakes still
//! run, inside TLS: a peer must hold both a certificate from the cluster's CA and the cookie.
//!
//! Node certificates carry the fixed DNS name [`SERVER_NAME`] (troupe's `cluster certs`
//! writes it), so that nodes can be addressed by IP address or any host name without one
//! certificate per address. Only TLS 1.3 is offered: both ends are troupe.
//!
//! Each node certificate also names its node, as the DNS name `<node>.node.troupe-cluster`
//! ([`node_dns_name`]). A node refuses to start with a certificate that does not name it, and
//! refuses a peer whose certificate does not name the node it claims to be: on the membership
//! link once ractor_cluster's handshake has told the peer's name, on the forwarding link in
//! the cookie handshake (the server checks the client's name; the client checks that the
//! server is the node it meant to reach). So a certificate, even a leaked one, speaks only for
//! its own node.
//!
//! A revocation list (`cluster.tls_crl`, PEM, written by `troupe cluster certs --revoke`) is
//! checked on both links: a revoked certificate is refused like a foreign one. A certificate
//! from a CA the list does not cover (during a CA change) is not affected by it.
//!
//! Incoming connections in their handshake are bounded per link ([`MAX_HANDSHAKES`]): when
//! that many are in progress, a new connection is closed at once, counted in
//! `troupe_cluster_connections_refused_total{link, reason="busy"}` and logged at WARN (once a
//! minute per address).
//!
//! The crypto provider is aws-lc-rs, named explicitly rather than taken from the process
//! default, which another library could install differently.

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The DNS name every node certificate carries, and the name a dialing node verifies.
pub const SERVER_NAME: &str = "troupe-cluster";

/// The DNS domain under which a node certificate names its node (see [`node_dns_name`]).
pub const NODE_DOMAIN: &str = "node.troupe-cluster";

/// The DNS name by which a node certificate names node `node`: `<node>.node.troupe-cluster`.
pub fn node_dns_name(node: &str) -> String {
    format!("{node}.{NODE_DOMAIN}")
}

/// The node names a certificate (DER) carries (its `<node>.node.troupe-cluster` DNS names).
pub fn node_names_of(cert: &[u8]) -> Vec<String> {
    let der = CertificateDer::from(cert);
    let Ok(ee) = webpki::EndEntityCert::try_from(&der) else {
        return Vec::new();
    };
    let suffix = format!(".{NODE_DOMAIN}");
    ee.valid_dns_names()
        .filter_map(|n| {
            n.len()
                .checked_sub(suffix.len())
                .filter(|&at| at > 0 && n[at..].eq_ignore_ascii_case(&suffix))
                .map(|at| n[..at].to_owned())
        })
        .collect()
}

/// The serial number of the first certificate in `pem` (its DER INTEGER's content bytes).
pub fn serial_of(pem: &[u8]) -> Result<Vec<u8>, TlsError> {
    let der = CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or_else(|| TlsError::Invalid("no certificate".into()))?
        .map_err(|e| TlsError::Invalid(format!("not a PEM certificate: {e}")))?;
    let ee = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| TlsError::Invalid(format!("not a usable certificate: {e}")))?;
    Ok(ee.serial().to_vec())
}

/// The entries of a PEM revocation list: each revoked serial number and when (Unix
/// seconds).
pub fn revoked_in(pem: &[u8]) -> Result<Vec<(Vec<u8>, u64)>, TlsError> {
    let mut out = Vec::new();
    for der in CertificateRevocationListDer::pem_slice_iter(pem) {
        let der = der.map_err(|e| TlsError::Invalid(format!("not a PEM revocation list: {e}")))?;
        let crl = webpki::BorrowedCertRevocationList::from_der(der.as_ref())
            .map_err(|e| TlsError::Invalid(format!("not a usable revocation list: {e}")))?;
        for entry in &crl {
            let entry =
                entry.map_err(|e| TlsError::Invalid(format!("bad revocation entry: {e}")))?;
            out.push((
                entry.serial_number.to_vec(),
                entry.revocation_date.as_secs(),
            ));
        }
    }
    Ok(out)
}

/// How many incoming connections may be in their handshake (TLS, and on the forwarding
/// link the cookie handshake) at once, per link; more are closed at once and logged.
pub const MAX_HANDSHAKES: usize = 64;

/// How long a TLS handshake may take before the connection is dropped. A peer that
/// connects and says nothing (a plain-TCP node waiting for the server to speak first, a port
/// scanner) must not hold a connection, or anything waiting on it, for longer.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A refusal from the same peer address on the same link is logged at WARN at most this
/// often; a misconfigured node retries every second.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// Why the TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {error}")]
    Read {
        /// Which setting named the file.
        what: &'static str,
        /// The file.
        path: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The PEM material is unusable.
    #[error("{0}")]
    Invalid(String),
}

/// A refusal, for rate-limiting its log: the link, the peer's IP address, and the reason.
type RefusalKey = (&'static str, IpAddr, String);

/// This node's TLS identity and the cluster's CA, ready for both links.
#[derive(Clone)]
pub struct ClusterTls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) connector: TlsConnector,
    /// When each peer was last logged as refused, by link and reason (see
    /// [`REFUSAL_LOG_EVERY`]).
    refusals: Arc<Mutex<HashMap<RefusalKey, Instant>>>,
    /// The node names this node's certificate carries.
    names: Arc<Vec<String>>,
    /// The node names in the certificate of each membership connection whose ractor_cluster
    /// handshake has not finished yet, by the peer's address as ractor_cluster reports it.
    #[allow(clippy::type_complexity)]
    pub(crate) pending: Arc<Mutex<HashMap<String, (Vec<String>, Instant)>>>,
    /// Incoming connections in their handshake, per link (see [`MAX_HANDSHAKES`]).
    pub(crate) handshakes: Arc<tokio::sync::Semaphore>,
    pub(crate) link_handshakes: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTls")
            .field("server_name", &SERVER_NAME)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl ClusterTls {
    /// Loads the CA certificate(s), this node's certificate chain and its private key from
    /// PEM files (`cluster.tls_ca`, `cluster.tls_cert`, `cluster.tls_key`), and the
    /// revocation list(s) (`cluster.tls_crl`) if one is named.
    pub fn from_pem_files(
        ca: &Path,
        cert: &Path,
        key: &Path,
        crl: Option<&Path>,
    ) -> Result<ClusterTls, TlsError> {
        let read = |what: &'static str, path: &Path| {
            std::fs::read(path).map_err(|error| TlsError::Read {
                what,
                path: path.display().to_string(),
                error,
            })
        };
        let crl = match crl {
            Some(path) => Some(read("cluster.tls_crl", path)?),
            None => None,
        };
        Self::from_pem_with_crl(
            &read("cluster.tls_ca", ca)?,
            &read("cluster.tls_cert", cert)?,
            &read("cluster.tls_key", key)?,
            crl.as_deref(),
        )
    }

    /// Like [`ClusterTls::from_pem_files`], from the files' contents, without a revocation
    /// list.
    pub fn from_pem(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<ClusterTls, TlsError> {
        Self::from_pem_with_crl(ca, cert, key, None)
    }

    /// Like [`ClusterTls::from_pem_files`], from the files' contents.
    pub fn from_pem_with_crl(
        ca: &[u8],
        cert: &[u8],
        key: &[u8],
        crl: Option<&[u8]>,
    ) -> Result<ClusterTls, TlsError> {
        let invalid = |s: String| TlsError::Invalid(s);
        let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(ca)
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(format!("cluster.tls_ca is not PEM certificates: {e}")))?;
        if cas.is_empty() {
            return Err(invalid("cluster.tls_ca holds no certificate".into()));
        }
        let mut roots = RootCertStore::empty();
        for c in cas {
            roots.add(c).map_err(|e| {
                invalid(format!("cluster.tls_ca holds an unusable certificate: {e}"))
            })?;
        }
        let roots = Arc::new(roots);
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(format!("cluster.tls_cert is not PEM certificates: {e}")))?;
        if chain.is_empty() {
            return Err(invalid("cluster.tls_cert holds no certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| invalid(format!("cluster.tls_key holds no usable private key: {e}")))?;

        let crls: Vec<CertificateRevocationListDer<'static>> = match crl {
            Some(pem) => {
                let crls: Vec<_> = CertificateRevocationListDer::pem_slice_iter(pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| {
                        invalid(format!("cluster.tls_crl is not a PEM revocation list: {e}"))
                    })?;
                if crls.is_empty() {
                    return Err(invalid("cluster.tls_crl holds no revocation list".into()));
                }
                crls
            }
            None => Vec::new(),
        };

        let provider = provider();
        // A revocation list covers the certificates of the CA that signed it; during a CA
        // change, the other CA's certificates have no list, and are not refused for that.
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .with_crls(crls.clone())
                .only_check_end_entity_revocation()
                .allow_unknown_revocation_status()
                .build()
                .map_err(|e| invalid(format!("cluster.tls_ca or cluster.tls_crl: {e}")))?;
        let server_verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .with_crls(crls)
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status()
        .build()
        .map_err(|e| invalid(format!("cluster.tls_ca or cluster.tls_crl: {e}")))?;
        // Refuse to start with a certificate the peers would refuse: it must chain to the CA
        // and name SERVER_NAME.
        let name = ServerName::try_from(SERVER_NAME).expect("a valid DNS name");
        let now = UnixTime::now();
        client_verifier
            .verify_client_cert(&chain[0], &chain[1..], now)
            .and_then(|_| {
                server_verifier.verify_server_cert(&chain[0], &chain[1..], &name, &[], now)
            })
            .map_err(|e| {
                invalid(format!(
                    "cluster.tls_cert is not a valid cluster node certificate: {e} (it must be signed by the CA in cluster.tls_ca, be valid now, not be revoked by cluster.tls_crl, and name {SERVER_NAME} among its DNS names)"
                ))
            })?;
        let names = node_names_of(chain[0].as_ref());
        if names.is_empty() {
            return Err(invalid(format!(
                "cluster.tls_cert names no node: a node certificate must name its node as the DNS name <node>.{NODE_DOMAIN} (certificates from `troupe cluster certs` do; one made before it did must be issued again: move NAME.pem and NAME-key.pem away and run `troupe cluster certs --out DIR --nodes NAME`)"
            )));
        }

        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| invalid(e.to_string()))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| {
                invalid(format!(
                    "cluster.tls_key does not go with cluster.tls_cert: {e}"
                ))
            })?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| invalid(e.to_string()))?
            .with_webpki_verifier(server_verifier)
            .with_client_auth_cert(chain, key)
            .map_err(|e| {
                invalid(format!(
                    "cluster.tls_key does not go with cluster.tls_cert: {e}"
                ))
            })?;
        Ok(ClusterTls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            refusals: Arc::new(Mutex::new(HashMap::new())),
            names: Arc::new(names),
            pending: Arc::new(Mutex::new(HashMap::new())),
            handshakes: Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES)),
            link_handshakes: Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES)),
        })
    }

    /// The node names this node's certificate carries (`<node>.node.troupe-cluster`).
    pub fn node_names(&self) -> &[String] {
        &self.names
    }

    /// Whether `certs` (a peer's chain, as TLS presented it) name node `claimed`; if not, the
    /// refusal is logged for `peer` on `link`.
    pub(crate) fn check_name(
        &self,
        link: &'static str,
        peer: SocketAddr,
        certs: Option<&[CertificateDer<'_>]>,
        claimed: &str,
    ) -> bool {
        let names = certs
            .and_then(|c| c.first())
            .map(|c| node_names_of(c.as_ref()))
            .unwrap_or_default();
        if names.iter().any(|n| n.eq_ignore_ascii_case(claimed)) {
            return true;
        }
        self.refused(link, peer, &name_mismatch(&names, claimed));
        false
    }

    /// Remembers the node names in the certificate of the membership connection with
    /// `peer`, until ractor_cluster's handshake tells which node it claims to be (entries
    /// older than a minute, of sessions that never got that far, are dropped).
    pub(crate) fn expect_session(&self, peer: SocketAddr, certs: Option<&[CertificateDer<'_>]>) {
        let names = certs
            .and_then(|c| c.first())
            .map(|c| node_names_of(c.as_ref()))
            .unwrap_or_default();
        let mut pending = self.pending.lock().expect("pending lock");
        let now = Instant::now();
        pending.retain(|_, (_, at)| now.duration_since(*at) < REFUSAL_LOG_EVERY);
        pending.insert(peer.to_string(), (names, now));
    }

    /// A permit for one incoming connection's handshake on `link`, or `None` (logged and
    /// counted) when [`MAX_HANDSHAKES`] are in progress.
    pub(crate) fn admit(
        &self,
        link: &'static str,
        peer: SocketAddr,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let pool = if link == "forwarding" {
            &self.link_handshakes
        } else {
            &self.handshakes
        };
        match pool.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                metrics::counter!("troupe_cluster_connections_refused_total", "link" => link, "reason" => "busy")
                    .increment(1);
                self.refused(
                    link,
                    peer,
                    &format!("{MAX_HANDSHAKES} connections are already in their handshake on this link; try again later"),
                );
                None
            }
        }
    }

    /// The name a dialing node verifies in the peer's certificate.
    pub(crate) fn server_name() -> ServerName<'static> {
        ServerName::try_from(SERVER_NAME).expect("a valid DNS name")
    }

    /// Accepts a TLS connection on `link`, within [`HANDSHAKE_TIMEOUT`]; a refusal is logged
    /// (naming the peer) and returned as an error.
    pub(crate) async fn accept(
        &self,
        link: &'static str,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
    ) -> std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => {
                self.refused(link, peer, &accept_failure(&e));
                Err(e)
            }
            Err(_) => {
                let why = format!("it did not complete a TLS handshake within {HANDSHAKE_TIMEOUT:?} (a plain-TCP node with cluster.insecure = true?)");
                self.refused(link, peer, &why);
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, why))
            }
        }
    }

    /// Opens TLS over a dialed connection to `addr` on `link`, within [`HANDSHAKE_TIMEOUT`];
    /// a refusal is logged (naming the peer) and returned as an error.
    pub(crate) async fn connect(
        &self,
        link: &'static str,
        stream: tokio::net::TcpStream,
        addr: SocketAddr,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let handshake = self.connector.connect(Self::server_name(), stream);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => {
                self.refused(link, addr, &connect_failure(&e));
                Err(e)
            }
            Err(_) => {
                let why =
                    format!("it did not complete a TLS handshake within {HANDSHAKE_TIMEOUT:?}");
                self.refused(link, addr, &why);
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, why))
            }
        }
    }

    /// Logs that `peer` was refused on `link`: at WARN, or at DEBUG when the same address was
    /// logged on that link for the same reason within [`REFUSAL_LOG_EVERY`].
    pub(crate) fn refused(&self, link: &'static str, peer: SocketAddr, why: &str) {
        let loud = {
            let mut last = self.refusals.lock().expect("refusals lock");
            let now = Instant::now();
            last.retain(|_, t| now.duration_since(*t) < REFUSAL_LOG_EVERY);
            // A reason can quote what a peer claims: bound the map against a flood of them.
            if last.len() >= 4096 {
                last.clear();
            }
            match last.entry((link, peer.ip(), why.to_owned())) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(now);
                    true
                }
            }
        };
        if loud {
            tracing::warn!(%peer, link, "cluster peer {peer} refused on the {link} link: {why} (the same refusal from this address is logged at debug for {} s)", REFUSAL_LOG_EVERY.as_secs());
        } else {
            tracing::debug!(%peer, link, "cluster peer {peer} refused on the {link} link: {why}");
        }
    }
}

/// Why a peer's certificate does not fit the node it claims to be, in an operator's words.
pub(crate) fn name_mismatch(names: &[String], claimed: &str) -> String {
    // Quoted with ' so that the JSON log does not escape the quotes.
    let claimed: String = claimed
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    if names.is_empty() {
        format!("it claims to be node '{claimed}', but its certificate names no node (no DNS name <node>.{NODE_DOMAIN})")
    } else {
        format!(
            "it claims to be node '{claimed}', but its certificate names node '{}'",
            names.join("', '")
        )
    }
}

fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
}

/// Why an incoming TLS handshake failed, in an operator's words.
pub(crate) fn accept_failure(e: &std::io::Error) -> String {
    use rustls::{CertificateError, Error};
    match rustls_error(e) {
        Some(Error::NoCertificatesPresented) => {
            "it presented no client certificate (every node needs one signed by the cluster CA)"
                .into()
        }
        Some(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        | Some(Error::InvalidCertificate(CertificateError::BadSignature)) => {
            "its certificate is not signed by the cluster CA".into()
        }
        Some(Error::InvalidCertificate(CertificateError::Revoked)) => {
            "its certificate is revoked (cluster.tls_crl)".into()
        }
        Some(Error::InvalidCertificate(c)) => format!("its certificate is not valid: {c:?}"),
        Some(Error::InvalidMessage(_)) | Some(Error::InappropriateMessage { .. }) => {
            "it does not speak TLS (a plain-TCP node with cluster.insecure = true?)".into()
        }
        // It checked our certificate first, and does not trust our CA.
        Some(Error::AlertReceived(a)) => {
            format!("it refused our certificate ({a:?}; is it a node of another cluster CA?)")
        }
        Some(other) => format!("TLS handshake failed: {other}"),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "it closed the connection during the TLS handshake".into()
        }
        None => format!("TLS handshake failed: {e}"),
    }
}

/// Why an outgoing TLS handshake failed, in an operator's words.
pub(crate) fn connect_failure(e: &std::io::Error) -> String {
    use rustls::{CertificateError, Error};
    match rustls_error(e) {
        Some(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        | Some(Error::InvalidCertificate(CertificateError::BadSignature)) => {
            "its certificate is not signed by the cluster CA".into()
        }
        Some(Error::InvalidCertificate(CertificateError::NotValidForName))
        | Some(Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
            format!("its certificate does not name {SERVER_NAME}")
        }
        Some(Error::InvalidCertificate(CertificateError::Revoked)) => {
            "its certificate is revoked (cluster.tls_crl)".into()
        }
        Some(Error::InvalidCertificate(c)) => format!("its certificate is not valid: {c:?}"),
        Some(Error::InvalidMessage(_)) | Some(Error::InappropriateMessage { .. }) => {
            "it does not speak TLS (a plain-TCP node with cluster.insecure = true?)".into()
        }
        Some(Error::AlertReceived(a)) => {
            format!("it refused our certificate ({a:?}; is it another cluster's CA?)")
        }
        Some(other) => format!("TLS handshake failed: {other}"),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "it closed the connection during the TLS handshake (a plain-TCP node with cluster.insecure = true?)".into()
        }
        None => format!("TLS handshake failed: {e}"),
    }
}

/// Why an established TLS connection broke before its cookie handshake finished: in TLS
/// 1.3 the dialing side learns that the peer refused its certificate only at its first read.
pub(crate) fn after_handshake_failure(e: &std::io::Error) -> Option<String> {
    match rustls_error(e) {
        Some(rustls::Error::AlertReceived(a)) => Some(format!(
            "it refused our certificate ({a:?}; is it another cluster's CA?)"
        )),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Certificates for tests: a CA and node certificates made with rcgen.

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    /// A CA that issues node certificates.
    pub(crate) struct Ca {
        pub(crate) pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    impl Ca {
        pub(crate) fn new(name: &str) -> Ca {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            Ca {
                pem: cert.pem(),
                issuer: Issuer::new(params, key),
            }
        }

        /// A node certificate and key (PEM) naming `super::SERVER_NAME` and node `name`.
        pub(crate) fn node(&self, name: &str) -> (String, String) {
            let mut params = CertificateParams::new(vec![
                super::SERVER_NAME.to_string(),
                super::node_dns_name(name),
            ])
            .unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        }

        /// A node's [`super::ClusterTls`].
        pub(crate) fn tls(&self, name: &str) -> super::ClusterTls {
            let (cert, key) = self.node(name);
            super::ClusterTls::from_pem(self.pem.as_bytes(), cert.as_bytes(), key.as_bytes())
                .unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Ca;
    use super::*;

    #[test]
    fn a_certificate_from_another_ca_is_refused_at_load() {
        let (ours, theirs) = (Ca::new("ours"), Ca::new("theirs"));
        let (cert, key) = theirs.node("n");
        let e = ClusterTls::from_pem(ours.pem.as_bytes(), cert.as_bytes(), key.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid cluster node certificate"), "{e}");
    }

    #[test]
    fn a_key_that_does_not_go_with_the_certificate_is_refused_at_load() {
        let ca = Ca::new("ours");
        let (cert, _) = ca.node("a");
        let (_, other_key) = ca.node("b");
        let e = ClusterTls::from_pem(ca.pem.as_bytes(), cert.as_bytes(), other_key.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not go with"), "{e}");
    }

    #[test]
    fn garbage_is_a_message_not_a_panic() {
        let e = ClusterTls::from_pem(b"nope", b"nope", b"nope")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cluster.tls_ca"), "{e}");
    }
}
