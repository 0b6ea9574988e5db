//! `troupe cluster certs`: a private CA and node certificates for the cluster links, and the
//! revocation list; `troupe cluster cookie`: a fresh cluster cookie.
//!
//! The directory gets `ca.pem` and `ca-key.pem` (made on the first run, reused after), and
//! `<node>.pem` and `<node>-key.pem` for each node named. Every node certificate names the
//! DNS name `troupe-cluster` ([`troupe_cluster::tls::SERVER_NAME`]), which is what nodes
//! verify, so one certificate serves a node at any address, and `<node>.node.troupe-cluster`
//! ([`troupe_cluster::tls::node_dns_name`]), the node it belongs to: a peer whose certificate
//! names another node than it claims is refused. Files holding keys are written mode 0600;
//! every file is written to a temporary name and moved into place.
//!
//! It never overwrites a key: a node whose certificate or key exists keeps both (and the run
//! says so), and a name that would land on another file of the run is refused: `ca`,
//! `ca-key`, `crl`, a name ending in `-key` (its certificate would be another node's key
//! file), a name given twice (without regard to case), or anything but letters, digits, `-`,
//! `_` and inner dots. Keys are moved into place with a hard link, which fails rather than
//! replace a file that appeared meanwhile.
//!
//! `--revoke NAME` adds the node's certificate to `crl.pem` (signed by the CA; earlier entries
//! are kept) and moves its certificate and key to `revoked/NAME-SERIAL.pem` and
//! `revoked/NAME-SERIAL-key.pem`, so that `--nodes NAME` then issues it a new pair.

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
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
/// How long a revocation list says it is current (nodes do not refuse an older one).
const CRL_DAYS: u64 = 3650;
/// Names a node may not have: the files of the CA and the revocation list.
const RESERVED: &[&str] = &["ca", "ca-key", "crl"];

/// What happened to one node named in a run.
#[derive(Debug, PartialEq, Eq)]
pub enum NodeOutcome {
    /// A new certificate and key were written.
    Written,
    /// Its certificate or key existed: both were kept as they are.
    Kept,
}

/// What a run wrote.
#[derive(Debug)]
pub struct Written {
    /// The CA was made by this run (else an existing one signed the node certificates).
    pub new_ca: bool,
    /// The nodes named: name, certificate file, key file, and what happened.
    pub nodes: Vec<(String, PathBuf, PathBuf, NodeOutcome)>,
    /// The nodes revoked: name and where its old files went.
    pub revoked: Vec<(String, PathBuf)>,
}

/// Why `name` cannot be a node name here, if it cannot.
fn bad_name(name: &str) -> Option<String> {
    let chars_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with(['.', '-'])
        && !name.ends_with(['.', '-'])
        && !name.contains("..");
    if !chars_ok {
        return Some(format!(
            "{name:?} cannot be a node name: use 1 to 63 letters, digits, '-', '_' and inner dots"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) {
        return Some(format!(
            "{name:?} cannot be a node name: its files would overwrite the CA's or the revocation list's ({lower}.pem)"
        ));
    }
    if lower.ends_with("-key") {
        return Some(format!(
            "{name:?} cannot be a node name: its certificate {name}.pem would overwrite the key of node {:?}",
            &name[..name.len() - 4]
        ));
    }
    let dns = troupe_cluster::tls::node_dns_name(name);
    if rustls_pki_name_ok(&dns) {
        None
    } else {
        Some(format!(
            "{name:?} cannot be a node name: {dns} is not a DNS name"
        ))
    }
}

/// Whether `dns` is a DNS name a certificate can carry and rustls can match.
fn rustls_pki_name_ok(dns: &str) -> bool {
    dns.split('.')
        .all(|label| !label.is_empty() && label.len() <= 63)
        && dns.len() <= 253
}

/// Checks every name before anything is written.
fn check_names(names: &[String]) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for n in names {
        if let Some(why) = bad_name(n) {
            bail!("{why}");
        }
        if !seen.insert(n.to_ascii_lowercase()) {
            bail!("{n:?} is named twice: each node needs its own certificate and key, and the second would overwrite the first");
        }
    }
    Ok(())
}

/// Loads the CA in `dir`, or makes one when `may_make` and there is none.
fn load_ca(dir: &Path, may_make: bool) -> anyhow::Result<(Issuer<'static, KeyPair>, String, bool)> {
    let (ca_cert, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    match (ca_cert.exists(), ca_key.exists()) {
        (true, true) => {
            let key_pem = std::fs::read_to_string(&ca_key)
                .with_context(|| format!("cannot read {}", ca_key.display()))?;
            let key = KeyPair::from_pem(&key_pem)
                .with_context(|| format!("{} holds no usable private key", ca_key.display()))?;
            let pem = std::fs::read_to_string(&ca_cert)
                .with_context(|| format!("cannot read {}", ca_cert.display()))?;
            Ok((Issuer::new(ca_params(&key)?, key), pem, false))
        }
        (false, false) if may_make => {
            let key = KeyPair::generate()?;
            let params = ca_params(&key)?;
            let cert = params.self_signed(&key)?;
            let pem = cert.pem();
            write_new(&ca_key, key.serialize_pem().as_bytes(), 0o600)?;
            write_new(&ca_cert, pem.as_bytes(), 0o644)?;
            Ok((Issuer::new(params, key), pem, true))
        }
        (false, false) => bail!(
            "{} holds no CA (ca.pem and ca-key.pem): nothing to revoke with",
            dir.display()
        ),
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
    }
}

/// Writes a CA (unless `dir` holds one) and a certificate and key for each of `nodes` that
/// has none; first revokes the certificates of `revoke` (see the module's documentation).
pub fn write(dir: &Path, nodes: &[String], revoke: &[String]) -> anyhow::Result<Written> {
    if nodes.is_empty() && revoke.is_empty() {
        bail!("name at least one node: --nodes a,b,c (or --revoke a)");
    }
    check_names(nodes)?;
    check_names(revoke)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (issuer, ca_pem, new_ca) = load_ca(dir, revoke.is_empty())?;
    let revoked = if revoke.is_empty() {
        Vec::new()
    } else {
        revoke_nodes(dir, &issuer, &ca_pem, revoke)?
    };
    let mut written = Vec::new();
    for name in nodes {
        let (cert_file, key_file) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}-key.pem")),
        );
        if cert_file.exists() || key_file.exists() {
            written.push((name.clone(), cert_file, key_file, NodeOutcome::Kept));
            continue;
        }
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
                "{}/ca.pem was not made by `troupe cluster certs`, so it cannot sign here ({e}); issue node certificates with the tool that made it",
                dir.display()
            )
        })?;
        write_new(&key_file, key_pem.as_bytes(), 0o600)?;
        write_new(&cert_file, cert_pem.as_bytes(), 0o644)?;
        written.push((name.clone(), cert_file, key_file, NodeOutcome::Written));
    }
    Ok(Written {
        new_ca,
        nodes: written,
        revoked,
    })
}

/// Adds the certificates of `names` to `crl.pem` and moves their files to `revoked/`.
fn revoke_nodes(
    dir: &Path,
    issuer: &Issuer<'static, KeyPair>,
    ca_pem: &str,
    names: &[String],
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let crl_file = dir.join("crl.pem");
    let mut entries: Vec<(Vec<u8>, u64)> = if crl_file.exists() {
        let pem = std::fs::read(&crl_file)
            .with_context(|| format!("cannot read {}", crl_file.display()))?;
        troupe_cluster::tls::revoked_in(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", crl_file.display()))?
    } else {
        Vec::new()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut moves = Vec::new();
    for name in names {
        let (cert_file, key_file) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}-key.pem")),
        );
        let pem = std::fs::read(&cert_file).with_context(|| {
            format!(
                "cannot revoke {name}: no certificate {} to revoke",
                cert_file.display()
            )
        })?;
        // Only a certificate of this CA can be revoked by this CA's list.
        let ca_ok = {
            let key = std::fs::read(&key_file).unwrap_or_default();
            troupe_cluster::ClusterTls::from_pem(ca_pem.as_bytes(), &pem, &key).is_ok()
                || !key_file.exists()
        };
        if !ca_ok {
            bail!(
                "cannot revoke {name}: {} is not a certificate of this directory's CA",
                cert_file.display()
            );
        }
        let serial = troupe_cluster::tls::serial_of(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", cert_file.display()))?;
        if !entries.iter().any(|(s, _)| *s == serial) {
            entries.push((serial.clone(), now));
        }
        let hex: String = serial.iter().take(8).map(|b| format!("{b:02x}")).collect();
        moves.push((name.clone(), cert_file, key_file, hex));
    }
    let at = |(y, m, d): (i32, u8, u8)| rcgen::date_time_ymd(y, m, d);
    let params = CertificateRevocationListParams {
        this_update: at(day(-1)),
        next_update: at(day(CRL_DAYS as i64)),
        crl_number: SerialNumber::from(now),
        issuing_distribution_point: None,
        revoked_certs: entries
            .iter()
            .map(|(serial, when)| RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: at(unix_day(*when)),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(issuer)?;
    write_replacing(&crl_file, crl.pem()?.as_bytes(), 0o644)?;
    let archive = dir.join("revoked");
    std::fs::create_dir_all(&archive)
        .with_context(|| format!("cannot create {}", archive.display()))?;
    let mut out = Vec::new();
    for (name, cert_file, key_file, hex) in moves {
        let (old_cert, old_key) = (
            archive.join(format!("{name}-{hex}.pem")),
            archive.join(format!("{name}-{hex}-key.pem")),
        );
        if key_file.exists() {
            move_new(&key_file, &old_key)?;
        }
        move_new(&cert_file, &old_cert)?;
        out.push((name, old_cert));
    }
    Ok(out)
}

/// `troupe cluster certs`: writes the files and says what it wrote and how to use them.
pub fn run(dir: &Path, nodes: &[String], revoke: &[String]) -> anyhow::Result<()> {
    let w = write(dir, nodes, revoke)?;
    let shown = dir.display();
    if w.new_ca {
        println!("made a new cluster CA: {shown}/ca.pem (its certificate: give it to every node) and {shown}/ca-key.pem (its key: keep it safe and off the nodes)");
    } else if !w.nodes.is_empty() {
        println!("signed with the existing CA in {shown}");
    }
    for (name, old) in &w.revoked {
        println!(
            "{name}: revoked; its old certificate and key are in {}",
            old.parent().unwrap_or(dir).display()
        );
    }
    if !w.revoked.is_empty() {
        println!("revocation list: {shown}/crl.pem; give it to every node as cluster.tls_crl and restart them one at a time (see docs/operations.md, \"A leaked node key\")");
    }
    for (name, cert, key, outcome) in &w.nodes {
        match outcome {
            NodeOutcome::Written => println!("{name}: {} and {}", cert.display(), key.display()),
            NodeOutcome::Kept => println!(
                "{name}: kept the existing {} and {} (never overwritten; to replace them, revoke them first: --revoke {name})",
                cert.display(),
                key.display()
            ),
        }
    }
    if !w.nodes.is_empty() {
        println!("on each node set cluster.tls_ca = {shown}/ca.pem, cluster.tls_cert = {shown}/NAME.pem and cluster.tls_key = {shown}/NAME-key.pem");
    }
    Ok(())
}

/// A fresh cluster cookie: 32 random bytes (256 bits), base64url without padding.
pub fn fresh_cookie() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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
    let mut p = CertificateParams::new(vec![
        troupe_cluster::tls::SERVER_NAME.to_owned(),
        troupe_cluster::tls::node_dns_name(name),
    ])?;
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

/// Today (UTC) plus `days`, as year, month, day.
fn day(days: i64) -> (i32, u8, u8) {
    ymd(chrono::Utc::now().date_naive() + chrono::TimeDelta::days(days))
}

/// The UTC day of Unix time `secs`, as year, month, day.
fn unix_day(secs: u64) -> (i32, u8, u8) {
    ymd(chrono::DateTime::from_timestamp(secs as i64, 0)
        .unwrap_or_default()
        .date_naive())
}

fn ymd(d: chrono::NaiveDate) -> (i32, u8, u8) {
    use chrono::Datelike;
    (d.year(), d.month() as u8, d.day() as u8)
}

/// A random positive 128-bit serial number.
fn serial() -> SerialNumber {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// Writes `bytes` with `mode` to a new temporary file beside `path`, synced.
fn write_tmp(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
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
    Ok(tmp)
}

/// Syncs the directory holding `path`, so that a new name in it survives a power cut.
pub(crate) fn sync_dir(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", parent.display()))?;
    }
    Ok(())
}

/// Writes a new file `path` with `mode` (a key is never readable by others, not even while
/// being written), and fails rather than replace one that exists: the temporary file is
/// hard-linked to `path`, which the kernel refuses when `path` exists.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = write_tmp(path, bytes, mode)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked.with_context(|| format!("cannot write {} (it is never overwritten)", path.display()))?;
    sync_dir(path)
}

/// Writes `path` with `mode` through a temporary file renamed into place (for the revocation
/// list, which each revocation replaces).
fn write_replacing(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = write_tmp(path, bytes, mode)?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    sync_dir(path)
}

/// Moves `from` to the new name `to`, never replacing a file at `to`.
fn move_new(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::hard_link(from, to)
        .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
    std::fs::remove_file(from).with_context(|| format!("cannot remove {}", from.display()))?;
    sync_dir(to)?;
    sync_dir(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_second_run_adds_nodes_under_the_same_ca_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(dir.path(), &names(&["a", "b"]), &[]).unwrap();
        assert!(first.new_ca);
        let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
        let second = write(dir.path(), &names(&["c"]), &[]).unwrap();
        assert!(!second.new_ca);
        assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca);
        for n in ["a", "b", "c"] {
            let cert = std::fs::read(dir.path().join(format!("{n}.pem"))).unwrap();
            let key = std::fs::read(dir.path().join(format!("{n}-key.pem"))).unwrap();
            let tls = troupe_cluster::ClusterTls::from_pem(&ca, &cert, &key).unwrap();
            assert_eq!(tls.node_names(), [n.to_string()]);
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
    }

    #[test]
    fn names_that_would_overwrite_a_file_are_refused_and_keys_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &names(&["a"]), &[]).unwrap();
        let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
        let (ca_key, a_key) = (read("ca-key.pem"), read("a-key.pem"));
        for bad in [
            &["ca-key"][..],
            &["ca"],
            &["CA"],
            &["crl"],
            &["a-key"],
            &["b", "b"],
            &["b", "B"],
            &["../x"],
            &["x/y"],
            &[".hidden"],
            &[""],
        ] {
            let e = write(dir.path(), &names(bad), &[]);
            assert!(e.is_err(), "{bad:?} must be refused");
            assert!(
                !dir.path().join("b.pem").exists(),
                "nothing written for {bad:?}"
            );
        }
        // An existing node keeps its certificate and key.
        let again = write(dir.path(), &names(&["a"]), &[]).unwrap();
        assert_eq!(again.nodes[0].3, NodeOutcome::Kept);
        assert_eq!(read("ca-key.pem"), ca_key);
        assert_eq!(read("a-key.pem"), a_key);
        // And a key that appears meanwhile is never replaced.
        assert!(write_new(&dir.path().join("a-key.pem"), b"x", 0o600).is_err());
        assert_eq!(read("a-key.pem"), a_key);
    }

    #[test]
    fn a_revoked_certificate_is_in_the_list_and_the_node_gets_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &names(&["a", "b", "c"]), &[]).unwrap();
        let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
        let (old_b, old_c) = (read("b.pem"), read("c.pem"));
        let w = write(dir.path(), &names(&["b"]), &names(&["b"])).unwrap();
        assert_eq!(w.revoked.len(), 1);
        assert_eq!(w.nodes[0].3, NodeOutcome::Written);
        assert_ne!(read("b.pem"), old_b);
        // Revoking another keeps the first entry.
        write(dir.path(), &[], &names(&["c"])).unwrap();
        let crl = read("crl.pem");
        let serials: Vec<Vec<u8>> = troupe_cluster::tls::revoked_in(&crl)
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(serials.len(), 2);
        for old in [&old_b, &old_c] {
            assert!(serials.contains(&troupe_cluster::tls::serial_of(old).unwrap()));
        }
        // A node refuses to start with a revoked certificate, and starts with the new one.
        let ca = read("ca.pem");
        let old_key = std::fs::read_dir(dir.path().join("revoked"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.to_string_lossy().contains("/b-") && p.to_string_lossy().ends_with("-key.pem")
            })
            .unwrap();
        let e = troupe_cluster::ClusterTls::from_pem_with_crl(
            &ca,
            &old_b,
            &std::fs::read(old_key).unwrap(),
            Some(&crl),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("Revoked"), "{e}");
        troupe_cluster::ClusterTls::from_pem_with_crl(
            &ca,
            &read("b.pem"),
            &read("b-key.pem"),
            Some(&crl),
        )
        .unwrap();
    }

    #[test]
    fn a_fresh_cookie_is_strong() {
        let c = fresh_cookie();
        assert_eq!(c.len(), 43);
        assert_eq!(crate::config::cookie_weakness(&c), None);
        assert_ne!(c, fresh_cookie());
    }
}
