//! `troupe cluster certs`: a private CA and node certificates for the cluster links.
//!
//! The directory gets `ca.pem` and `ca-key.pem` (made on the first run, reused after), and
//! `<node>.pem` and `<node>-key.pem` for each node named. Every node certificate names the
//! DNS name `troupe-cluster` ([`troupe_cluster::tls::SERVER_NAME`]), which is what nodes
//! verify, so one certificate serves a node at any address. Files holding keys are written
//! mode 0600; every file is written to a temporary name and renamed into place.

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use std::path::{Path, PathBuf};

/// The start of the CA's common name; a fingerprint of its public key follows, so that two
/// clusters' CAs have different names, and a later run that loads the key names it again
/// (node certificates name their issuer by it).
const CA_NAME: &str = "troupe cluster CA";
/// How long the CA is valid.
const CA_DAYS: u64 = 3650;
/// How long a node certificate is valid.
const NODE_DAYS: u64 = 825;

/// What a run wrote.
#[derive(Debug)]
pub struct Written {
    /// The CA was made by this run (else an existing one signed the node certificates).
    pub new_ca: bool,
    /// The node certificates written: name, certificate file, key file, and whether it
    /// replaced an existing one.
    pub nodes: Vec<(String, PathBuf, PathBuf, bool)>,
}

/// Writes a CA (unless `dir` holds one) and a certificate and key for each of `nodes`.
pub fn write(dir: &Path, nodes: &[String]) -> anyhow::Result<Written> {
    if nodes.is_empty() {
        bail!("name at least one node: --nodes a,b,c");
    }
    for n in nodes {
        let ok = !n.is_empty()
            && n.len() <= 63
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && !n.starts_with('.')
            && n != "ca";
        if !ok {
            bail!("{n:?} cannot be a node's file name: use letters, digits, '-', '_' and '.', and not \"ca\"");
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (ca_cert, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let (issuer, ca_pem, new_ca) = match (ca_cert.exists(), ca_key.exists()) {
        (true, true) => {
            let key_pem = std::fs::read_to_string(&ca_key)
                .with_context(|| format!("cannot read {}", ca_key.display()))?;
            let key = KeyPair::from_pem(&key_pem)
                .with_context(|| format!("{} holds no usable private key", ca_key.display()))?;
            let pem = std::fs::read_to_string(&ca_cert)
                .with_context(|| format!("cannot read {}", ca_cert.display()))?;
            (Issuer::new(ca_params(&key)?, key), pem, false)
        }
        (false, false) => {
            let key = KeyPair::generate()?;
            let params = ca_params(&key)?;
            let cert = params.self_signed(&key)?;
            let pem = cert.pem();
            write_file(&ca_key, key.serialize_pem().as_bytes(), 0o600)?;
            write_file(&ca_cert, pem.as_bytes(), 0o644)?;
            (Issuer::new(params, key), pem, true)
        }
        (true, false) => bail!(
            "{} exists but {} does not: a CA needs both to sign node certificates",
            ca_cert.display(),
            ca_key.display()
        ),
        (false, true) => bail!(
            "{} exists but {} does not: a CA needs both to sign node certificates",
            ca_key.display(),
            ca_cert.display()
        ),
    };
    let mut written = Vec::new();
    for name in nodes {
        let key = KeyPair::generate()?;
        let cert = node_params(name)?.signed_by(&key, &issuer)?;
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        // The CA in the directory must be the one that signed: one this command made earlier
        // (an operator's own CA has another name, and its node certificates come from it).
        troupe_cluster::ClusterTls::from_pem(
            ca_pem.as_bytes(),
            cert_pem.as_bytes(),
            key_pem.as_bytes(),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "{} was not made by `troupe cluster certs`, so it cannot sign here ({e}); issue node certificates with the tool that made it",
                ca_cert.display()
            )
        })?;
        let (cert_file, key_file) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}-key.pem")),
        );
        let replaced = cert_file.exists();
        write_file(&key_file, key_pem.as_bytes(), 0o600)?;
        write_file(&cert_file, cert_pem.as_bytes(), 0o644)?;
        written.push((name.clone(), cert_file, key_file, replaced));
    }
    Ok(Written {
        new_ca,
        nodes: written,
    })
}

/// `troupe cluster certs`: writes the files and says what it wrote and how to use them.
pub fn run(dir: &Path, nodes: &[String]) -> anyhow::Result<()> {
    let w = write(dir, nodes)?;
    let shown = dir.display();
    if w.new_ca {
        println!("made a new cluster CA: {shown}/ca.pem (its certificate: give it to every node) and {shown}/ca-key.pem (its key: keep it safe and off the nodes)");
    } else {
        println!("signed with the existing CA in {shown}");
    }
    for (name, cert, key, replaced) in &w.nodes {
        let replaced = if *replaced { " (replaced)" } else { "" };
        println!("{name}: {} and {}{replaced}", cert.display(), key.display());
    }
    println!("on each node set cluster.tls_ca = {shown}/ca.pem, cluster.tls_cert = {shown}/NAME.pem and cluster.tls_key = {shown}/NAME-key.pem");
    Ok(())
}

fn ca_params(key: &KeyPair) -> anyhow::Result<CertificateParams> {
    use sha2::Digest;
    let fingerprint = sha2::Sha256::digest(key.public_key_raw());
    let hex: String = fingerprint[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, format!("{CA_NAME} {hex}"));
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut p, CA_DAYS);
    p.serial_number = Some(serial());
    Ok(p)
}

fn node_params(name: &str) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(vec![troupe_cluster::tls::SERVER_NAME.to_owned()])?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    validity(&mut p, NODE_DAYS);
    p.serial_number = Some(serial());
    Ok(p)
}

/// Valid from the start of yesterday (UTC; a day's margin for clocks that lag) for `days`
/// days from today.
fn validity(p: &mut CertificateParams, days: u64) {
    use chrono::Datelike;
    let at = |d: chrono::NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    let today = chrono::Utc::now().date_naive();
    p.not_before = at(today - chrono::Days::new(1));
    p.not_after = at(today + chrono::Days::new(days));
}

/// A random positive 128-bit serial number.
fn serial() -> SerialNumber {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// Writes `path` with `mode` through a temporary file renamed into place, so that a key is
/// never readable by others, not even while being written.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("pem.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    // The rename is durable once the directory is synced; the directory's own entry too, in
    // case this run created it.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
        if let Some(up) = dir.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::File::open(up).and_then(|d| d.sync_all());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_adds_nodes_under_the_same_ca_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(dir.path(), &["a".into(), "b".into()]).unwrap();
        assert!(first.new_ca);
        let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
        let second = write(dir.path(), &["c".into()]).unwrap();
        assert!(!second.new_ca);
        assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca);
        for n in ["a", "b", "c"] {
            let cert = std::fs::read(dir.path().join(format!("{n}.pem"))).unwrap();
            let key = std::fs::read(dir.path().join(format!("{n}-key.pem"))).unwrap();
            troupe_cluster::ClusterTls::from_pem(&ca, &cert, &key).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in ["ca-key.pem", "a-key.pem", "c-key.pem"] {
                let mode = std::fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        assert!(write(dir.path(), &["../x".into()]).is_err());
    }
}
