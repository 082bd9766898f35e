//! The trust commands: `keygen`, `sign`, `sign-blob`, `verify-blob`,
//! `policy registry`, `archive`, `audit`, and the trust-root flags of
//! `verify`. Argument types and
//! dispatch only; keys, signatures, ACLs, registries and audits live in
//! `capsule::trust`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use capsule::digest::Digest;
use capsule::trust::acl::{ACL_SCHEMA, Acl, AclEntry, AclV1};
use capsule::trust::audit::{self, AuditOptions};
use capsule::trust::dsse::{RECEIPT_PREDICATE_SCHEMA, ReceiptPredicateV1};
use capsule::trust::registry::{self, RegistryProofV1};
use capsule::trust::sigstore::{BuildSigner, GITHUB_ACTIONS_ISSUER, SigstoreIdentity, TrustRoot};
use capsule::trust::{attach, key};
use capsule::verify::{Profile, VerifyOptions, verify_pack_file};
use clap::Args;

use crate::errors::{CliError, ExitCode};
use crate::output;

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Write `<PREFIX>.key` (secret, PKCS#8 PEM, mode 0600) and `<PREFIX>.pub`
    /// (SEC1 compressed hex). Existing files are never overwritten.
    #[arg(long, value_name = "PREFIX", default_value = "capsule-signing")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The capsulepack to sign (rewritten in place, capsule hash unchanged).
    pack: PathBuf,
    /// The secret key file (PKCS#8 PEM).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["key_env", "sigstore"], conflicts_with_all = ["key_env", "sigstore"])]
    key: Option<PathBuf>,
    /// An environment variable holding the secret key PEM (for CI secrets).
    #[arg(long, value_name = "VAR", conflicts_with = "sigstore")]
    key_env: Option<String>,
    /// Sign keylessly with Sigstore, as this GitHub Actions job (needs
    /// `permissions: id-token: write`; refused in a pull request's run).
    #[arg(long)]
    sigstore: bool,
    /// A private Sigstore instance's Fulcio URL (with `--rekor-url`, and
    /// `--trusted-root` declaring that instance, since the signed pack is
    /// verified before it replaces the original).
    #[arg(long, value_name = "URL", requires_all = ["rekor_url", "sigstore", "trusted_root"])]
    fulcio_url: Option<String>,
    /// A private Sigstore instance's Rekor URL.
    #[arg(long, value_name = "URL", requires = "fulcio_url")]
    rekor_url: Option<String>,
    /// An inclusion proof of the pack's policy in a policy registry
    /// (`cargo capsule policy registry prove`), carried in the signed
    /// statement for the certified profile.
    #[arg(long, value_name = "FILE")]
    registry_proof: Option<PathBuf>,
    /// The Sigstore trusted root for the pack's bundles, the new keyless
    /// one included (default: the embedded production root).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct SignBlobArgs {
    /// The file to sign.
    file: PathBuf,
    /// Sign keylessly with Sigstore, as this GitHub Actions job (needs
    /// `permissions: id-token: write`; refused in a pull request's run).
    #[arg(long, required = true)]
    sigstore: bool,
    /// Where to write the bundle (default `FILE.sigstore.json`); an existing
    /// file is never overwritten.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// A private Sigstore instance's Fulcio URL (with `--rekor-url`, and
    /// `--trusted-root` declaring that instance: the bundle is verified
    /// before it is written).
    #[arg(long, value_name = "URL", requires_all = ["rekor_url", "trusted_root"])]
    fulcio_url: Option<String>,
    /// A private Sigstore instance's Rekor URL.
    #[arg(long, value_name = "URL", requires = "fulcio_url")]
    rekor_url: Option<String>,
    /// The Sigstore trusted root (default: the embedded production root).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyBlobArgs {
    /// The file the bundle signs.
    file: PathBuf,
    /// The Sigstore bundle (default `FILE.sigstore.json`).
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// The signer the certificate must name (its SAN; for GitHub Actions the
    /// workflow, `https://github.com/OWNER/REPO/.github/workflows/FILE@REF`).
    #[arg(long, value_name = "URI")]
    certificate_identity: String,
    /// The OIDC issuer the certificate must name.
    #[arg(long, value_name = "URL", default_value = GITHUB_ACTIONS_ISSUER)]
    certificate_oidc_issuer: String,
    /// The Sigstore trusted root (default: the embedded production root).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
}

fn bundle_path(file: &Path, given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| with_suffix(file, ".sigstore.json"), Path::to_path_buf)
}

fn trust_root_or_production(path: Option<&Path>) -> Result<Arc<TrustRoot>, CliError> {
    match path {
        Some(p) => load_trust_root(p),
        None => Ok(Arc::new(TrustRoot::production().map_err(CliError::TrustRoot)?)),
    }
}

pub(crate) fn sign_blob(a: SignBlobArgs) -> Result<u8, CliError> {
    use capsule_github::keyless;
    let event = crate::github::event_payload().ok().flatten();
    keyless::refuse_untrusted(std::env::var("GITHUB_EVENT_NAME").ok().as_deref(), event.as_ref())
        .map_err(CliError::Keyless)?;
    let bytes = read(&a.file)?;
    let out = bundle_path(&a.file, a.out.as_deref());
    if out.exists() {
        return Err(CliError::Write {
            path: out,
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "the bundle exists; remove it first"),
        });
    }
    let root = trust_root_or_production(a.trusted_root.as_deref())?;
    let token = keyless::actions_id_token(keyless::AUDIENCE).map_err(CliError::Keyless)?;
    let instance = keyless::Instance { urls: a.fulcio_url.clone().zip(a.rekor_url.clone()) };
    let bundle = keyless::sign_blob(&bytes, token, &instance).map_err(CliError::Keyless)?;
    // What is written verifies: the chain, the log entry, the signature.
    let signer = match root.verify(&bundle, capsule::trust::sigstore::BundleArtifact::Bytes(&bytes), None) {
        Ok(s) => s,
        Err(why) => {
            output::line(&format!("error: the new bundle does not verify under `{}`: {why}", root.source))?;
            return Ok(ExitCode::REJECTED);
        }
    };
    write_new(&out, &bundle, 0o644)?;
    output::line(&format!(
        "signed `{}` as {} into `{}`",
        a.file.display(),
        signer.san.as_deref().unwrap_or("an unknown identity"),
        out.display()
    ))?;
    Ok(ExitCode::OK)
}

pub(crate) fn verify_blob(a: VerifyBlobArgs) -> Result<u8, CliError> {
    let bytes = read(&a.file)?;
    let bundle_file = bundle_path(&a.file, a.bundle.as_deref());
    let bundle = read(&bundle_file)?;
    let root = trust_root_or_production(a.trusted_root.as_deref())?;
    let signer = match root.verify(&bundle, capsule::trust::sigstore::BundleArtifact::Bytes(&bytes), None) {
        Ok(s) => s,
        Err(why) => {
            output::line(&format!("REJECTED `{}`: {why}", a.file.display()))?;
            return Ok(ExitCode::REJECTED);
        }
    };
    let (san, issuer) = (signer.san.as_deref().unwrap_or("(none)"), signer.issuer.as_deref().unwrap_or("(none)"));
    if san != a.certificate_identity || issuer != a.certificate_oidc_issuer {
        output::line(&format!(
            "REJECTED `{}`: signed by {san} (issuer {issuer}), not {} (issuer {})",
            a.file.display(),
            a.certificate_identity,
            a.certificate_oidc_issuer
        ))?;
        return Ok(ExitCode::REJECTED);
    }
    output::line(&format!(
        "verified `{}`: signed by {san} (issuer {issuer}) at commit {}, logged in the transparency log (trusted root {})",
        a.file.display(),
        signer.commit.as_deref().unwrap_or("(not named)"),
        root.source
    ))?;
    Ok(ExitCode::OK)
}

/// The trust roots of `verify`: every one given by the verifier's user.
#[derive(Debug, Args)]
pub(crate) struct TrustArgs {
    /// The ACL: who may sign, per policy id (`capsulebench/acl/v1`).
    #[arg(long, value_name = "FILE")]
    acl: Option<PathBuf>,
    /// The pinned policy registry root.
    #[arg(long, value_name = "HASH")]
    registry_root: Option<String>,
    /// The Sigstore trusted root (default: the embedded production root).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Shortcut for a one-entry ACL: allow this repository key id.
    #[arg(long, value_name = "KEY_ID")]
    allow_key: Vec<String>,
    /// Shortcut for a one-entry ACL: a Sigstore signer from this GitHub
    /// repository (`owner/name`; needs --sigstore-repository-id and
    /// --sigstore-workflow or --sigstore-build-signer).
    #[arg(long, value_name = "OWNER/NAME")]
    sigstore_repository: Option<String>,
    /// The repository's numeric id.
    #[arg(long, value_name = "ID", requires = "sigstore_repository")]
    sigstore_repository_id: Option<String>,
    /// The signing workflow's ref URI (the certificate SAN).
    #[arg(long, value_name = "URI", requires = "sigstore_repository")]
    sigstore_workflow: Option<String>,
    /// A pinned reusable workflow: `URI@DIGEST` (Build Signer URI and digest).
    #[arg(long, value_name = "URI@DIGEST", requires = "sigstore_repository")]
    sigstore_build_signer: Option<String>,
    /// The OIDC issuer.
    #[arg(long, value_name = "URL", default_value = GITHUB_ACTIONS_ISSUER)]
    sigstore_issuer: String,
    /// The runner environment required.
    #[arg(long, value_name = "ENV", default_value = "github-hosted")]
    sigstore_runner: String,
    /// The GitHub server of `--sigstore-repository` (a GitHub Enterprise
    /// Server's URL; default `https://github.com`).
    #[arg(long, value_name = "URL", requires = "sigstore_repository")]
    sigstore_server: Option<String>,
    /// The policy id the shortcut flags allow signers for.
    #[arg(long, value_name = "ID", default_value = "capsulebench-standard")]
    for_policy: String,
    /// The external row archive (profile `audited`).
    #[arg(long, value_name = "DIR")]
    archive: Option<PathBuf>,
    #[command(flatten)]
    draw: DrawArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DrawArgs {
    /// Chunks to draw from the archive.
    #[arg(long, value_name = "K", default_value_t = 64)]
    samples: u64,
    /// Reproduce an audit with this seed (64 hex digits); by default the
    /// verifier draws its own.
    #[arg(long, value_name = "HEX")]
    seed: Option<String>,
    /// The withheld fraction to state the detection probability for.
    #[arg(long, value_name = "FRACTION", default_value = "0.01")]
    withheld_fraction: String,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// The capsulepack whose trace root the archive must serve.
    pack: PathBuf,
    /// The external row archive.
    #[arg(long, value_name = "DIR")]
    archive: PathBuf,
    #[command(flatten)]
    draw: DrawArgs,
    /// The Sigstore trusted root for bundles in the pack.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ArchiveArgs {
    /// The capsulepack whose rows to archive.
    pack: PathBuf,
    /// The directory to create.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The Sigstore trusted root for bundles in the pack.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum RegistryCommand {
    /// Build the registry of every policy file (`*.json`) in DIR and print
    /// its root.
    Build {
        /// The directory of policy files.
        dir: PathBuf,
    },
    /// Print the inclusion proof of POLICY in the registry of DIR.
    Prove {
        /// The policy file.
        policy: PathBuf,
        /// The directory of policy files the registry is built from.
        #[arg(long, value_name = "DIR")]
        registry: PathBuf,
        /// Write the proof here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|source| CliError::Read { path: path.to_path_buf(), source })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CliError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let err = |source| CliError::Write { path: path.to_path_buf(), source };
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(err)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(err)
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub(crate) fn keygen(a: KeygenArgs) -> Result<u8, CliError> {
    let g = key::generate().map_err(CliError::Key)?;
    let secret = with_suffix(&a.out, ".key");
    let public = with_suffix(&a.out, ".pub");
    if public.exists() {
        return Err(CliError::Write {
            path: public,
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "refusing to overwrite a key file"),
        });
    }
    write_new(&secret, g.secret_pem.as_bytes(), 0o600)?;
    write_new(&public, format!("{}\n", g.public_hex).as_bytes(), 0o644)?;
    output::line(&format!(
        "key id       {}\npublic key   {} ({})\nsecret key   {} (mode 0600; keep it out of the repository)",
        g.key_id,
        g.public_hex,
        public.display(),
        secret.display()
    ))?;
    Ok(ExitCode::OK)
}

fn load_secret(a: &SignArgs) -> Result<key::SecretKey, CliError> {
    let pem = match (&a.key, &a.key_env) {
        (Some(path), _) => {
            use std::os::unix::fs::PermissionsExt as _;
            let meta = std::fs::metadata(path).map_err(|source| CliError::Read { path: path.clone(), source })?;
            if meta.permissions().mode() & 0o077 != 0 {
                output::warn(&format!(
                    "secret key `{}` is readable by others (mode {:o}); run `chmod 600 {}`",
                    path.display(),
                    meta.permissions().mode() & 0o777,
                    path.display()
                ))?;
            }
            let bytes = zeroize::Zeroizing::new(read(path)?);
            zeroize::Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())
        }
        (None, Some(var)) => zeroize::Zeroizing::new(std::env::var(var).map_err(|_| CliError::KeyEnv(var.clone()))?),
        (None, None) => return Err(CliError::Usage("give `--key FILE` or `--key-env VAR`")),
    };
    key::SecretKey::from_pem(&pem).map_err(CliError::Key)
}

/// Integrity-profile options, with the user's Sigstore trusted root.
fn integrity_options(trusted_root: Option<&Path>) -> Result<VerifyOptions, CliError> {
    Ok(VerifyOptions {
        profile: Profile::Integrity,
        trust_root: trusted_root.map(load_trust_root).transpose()?,
        ..crate::inputs::verify_options()
    })
}

fn load_trust_root(path: &Path) -> Result<Arc<TrustRoot>, CliError> {
    let text = String::from_utf8_lossy(&read(path)?).into_owned();
    Ok(Arc::new(TrustRoot::from_json(&text, &path.display().to_string()).map_err(CliError::TrustRoot)?))
}

/// Where a keyless signature lives (signing again replaces it).
const KEYLESS_MEMBER: &str = "signatures/keyless.sigstore.json";

pub(crate) fn sign(a: SignArgs) -> Result<u8, CliError> {
    crate::inputs::readable(&a.pack)?;
    if a.sigstore {
        // Before anything else: only runs of reviewed code sign (an
        // unreadable payload counts as none, which a `workflow_run` refuses).
        let event = crate::github::event_payload().ok().flatten();
        capsule_github::keyless::refuse_untrusted(std::env::var("GITHUB_EVENT_NAME").ok().as_deref(), event.as_ref())
            .map_err(CliError::Keyless)?;
    }
    let sk = if a.sigstore { None } else { Some(load_secret(&a)?) };
    let opts = integrity_options(a.trusted_root.as_deref())?;
    let (report, contents) = verify_pack_file(&a.pack, &opts);
    let (Some(contents), Some(hash), true) = (contents, report.capsule_hash, report.accepted()) else {
        output::report(&report)?;
        return Ok(ExitCode::REJECTED);
    };
    let policy_hash = contents.statement.policy_hash;
    let registry = match &a.registry_proof {
        None => None,
        Some(path) => {
            let proof: RegistryProofV1 = capsule::canonical::parse_lenient(&read(path)?)
                .map_err(|source| CliError::Json { path: path.clone(), source })?;
            proof
                .check(&policy_hash, &proof.root)
                .map_err(|e| CliError::RegistryProof { path: path.clone(), why: e })?;
            Some(proof)
        }
    };
    let predicate = ReceiptPredicateV1 {
        schema: RECEIPT_PREDICATE_SCHEMA.to_owned(),
        policy_id: contents.policy.id.clone(),
        policy_hash,
        registry,
    };
    let (bytes, member, signer) = match &sk {
        Some(sk) => (
            sk.sign(&hash, &predicate).map_err(CliError::Key)?,
            key::member_path(&sk.key_id()),
            format!("key {}", sk.key_id()),
        ),
        None => {
            use capsule_github::keyless;
            let statement = capsule::trust::dsse::receipt_statement(&hash, &predicate)
                .map_err(|e| CliError::Key(key::KeyError::Statement(e)))?;
            let token = keyless::actions_id_token(keyless::AUDIENCE).map_err(CliError::Keyless)?;
            let signer = format!("a Sigstore certificate for `{}` (issuer {})", token.subject(), token.issuer());
            let instance = keyless::Instance { urls: a.fulcio_url.clone().zip(a.rekor_url.clone()) };
            let bundle = keyless::sign_statement(&statement, token, &instance).map_err(CliError::Keyless)?;
            (bundle, KEYLESS_MEMBER.to_owned(), signer)
        }
    };
    match attach::attach_signature(&a.pack, &hash, &member, &bytes, &opts) {
        Ok(_) => {}
        Err(attach::AttachError::Rejected(report)) => {
            output::report(&report)?;
            return Ok(ExitCode::REJECTED);
        }
        Err(source) => return Err(CliError::Attach { path: a.pack.clone(), source }),
    }
    output::line(&format!("signed capsule {hash} with {signer} into `{member}`"))?;
    Ok(ExitCode::OK)
}

/// Parses a decimal fraction (`0.01`) into parts per million.
fn fraction_ppm(s: &str) -> Result<u64, CliError> {
    capsule::compare::parse_ppm("withheld-fraction", s)
        .ok()
        .and_then(|p| u64::try_from(p).ok())
        .ok_or(CliError::Usage("`--withheld-fraction` is a decimal between 0 and 1, such as 0.01"))
}

fn audit_options(archive: PathBuf, d: &DrawArgs) -> Result<AuditOptions, CliError> {
    if d.samples == 0 {
        return Err(CliError::Usage("`--samples` must be at least 1: an audit that draws nothing checks nothing"));
    }
    let seed = match &d.seed {
        None => None,
        Some(h) => {
            let bytes = hex::decode(h).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
            Some(bytes.ok_or(CliError::Usage("`--seed` is 64 hex digits"))?)
        }
    };
    Ok(AuditOptions {
        archive,
        samples: d.samples,
        seed,
        withheld_fraction_ppm: fraction_ppm(&d.withheld_fraction)?,
        budget: 128 << 20,
    })
}

/// Fills the trust roots of `opts` from the flags.
impl TrustArgs {
    /// The Sigstore trusted root file, when one is given.
    pub(crate) fn trusted_root_file(&self) -> Option<&std::path::Path> {
        self.trusted_root.as_deref()
    }
}

pub(crate) fn apply(t: &TrustArgs, opts: &mut VerifyOptions) -> Result<(), CliError> {
    if let Some(path) = &t.acl {
        let acl = Acl::from_bytes(&read(path)?, &path.display().to_string()).map_err(CliError::Acl)?;
        opts.acl = Some(Arc::new(acl));
    }
    if !t.allow_key.is_empty() || t.sigstore_repository.is_some() {
        if opts.acl.is_some() {
            return Err(CliError::Usage("`--acl` and the one-entry ACL shortcut flags cannot be combined"));
        }
        let mut entry = AclEntry::default();
        for k in &t.allow_key {
            entry.keys.push(k.parse::<Digest>().map_err(|source| CliError::Digest { flag: "--allow-key", source })?);
        }
        if let Some(repo) = &t.sigstore_repository {
            let build_signer = match &t.sigstore_build_signer {
                None => None,
                Some(s) => {
                    let (uri, digest) =
                        s.rsplit_once('@').ok_or(CliError::Usage("`--sigstore-build-signer` is `URI@DIGEST`"))?;
                    Some(BuildSigner { uri: uri.to_owned(), digest: digest.to_owned() })
                }
            };
            entry.sigstore.push(SigstoreIdentity {
                issuer: t.sigstore_issuer.clone(),
                repository: repo.clone(),
                repository_id: t.sigstore_repository_id.clone().unwrap_or_default(),
                workflow: t.sigstore_workflow.clone(),
                build_signer,
                runner: t.sigstore_runner.clone(),
                server: t.sigstore_server.clone(),
            });
        }
        let acl =
            AclV1 { schema: ACL_SCHEMA.to_owned(), policies: [(t.for_policy.clone(), entry)].into_iter().collect() };
        let bytes = serde_json::to_vec(&acl).map_err(|e| CliError::Output(e.into()))?;
        opts.acl = Some(Arc::new(Acl::from_bytes(&bytes, "command-line flags").map_err(CliError::Acl)?));
    }
    if let Some(h) = &t.registry_root {
        opts.registry_root = Some(h.parse().map_err(|source| CliError::Digest { flag: "--registry-root", source })?);
    }
    if let Some(path) = &t.trusted_root {
        opts.trust_root = Some(load_trust_root(path)?);
    }
    if let Some(dir) = &t.archive {
        opts.audit = Some(audit_options(dir.clone(), &t.draw)?);
    }
    Ok(())
}

pub(crate) fn audit(a: AuditArgs) -> Result<u8, CliError> {
    crate::inputs::readable(&a.pack)?;
    let opts = integrity_options(a.trusted_root.as_deref())?;
    let (report, contents) = verify_pack_file(&a.pack, &opts);
    let (Some(contents), true) = (contents, report.accepted()) else {
        output::report(&report)?;
        return Ok(ExitCode::REJECTED);
    };
    let o = audit_options(a.archive.clone(), &a.draw)?;
    let seed = match o.seed {
        Some(s) => s,
        None => audit::fresh_seed().map_err(|e| CliError::Randomness(e.to_string()))?,
    };
    let r = audit::audit(&contents.capsule.commitment, &o, seed);
    if output::json_mode() {
        output::json(&r)?;
    } else {
        output::audit(&r)?;
    }
    Ok(if r.passed() { ExitCode::OK } else { ExitCode::REJECTED })
}

pub(crate) fn archive(a: ArchiveArgs) -> Result<u8, CliError> {
    crate::inputs::readable(&a.pack)?;
    let opts = integrity_options(a.trusted_root.as_deref())?;
    let (report, _) = verify_pack_file(&a.pack, &opts);
    if !report.accepted() {
        output::report(&report)?;
        return Ok(ExitCode::REJECTED);
    }
    let c = audit::write_archive(&a.pack, &a.out, &opts.limits)
        .map_err(|source| CliError::Archive { path: a.out.clone(), source })?;
    output::line(&format!(
        "archived {} rows in {} chunks (trace root {}) into {}",
        c.row_count,
        c.chunk_count,
        c.root,
        a.out.display()
    ))?;
    Ok(ExitCode::OK)
}

/// The policy hashes of every `*.json` file in `dir`, by file name.
fn registry_of(dir: &Path) -> Result<registry::Registry, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CliError::Read { path: dir.to_path_buf(), source })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut hashes = Vec::new();
    for f in &files {
        hashes.push(crate::inputs::read_policy(f)?.hash);
    }
    Ok(registry::build(hashes))
}

pub(crate) fn registry(c: RegistryCommand) -> Result<u8, CliError> {
    match c {
        RegistryCommand::Build { dir } => {
            let reg = registry_of(&dir)?;
            output::line(&format!("{}  registry root of {} policies", reg.root(), reg.policies.len()))?;
            for p in &reg.policies {
                output::line(&format!("  {p}"))?;
            }
        }
        RegistryCommand::Prove { policy, registry, out } => {
            let reg = registry_of(&registry)?;
            let p = crate::inputs::read_policy(&policy)?;
            let proof = reg.prove(&p.hash).ok_or_else(|| CliError::NotRegistered {
                policy: policy.clone(),
                hash: p.hash,
                registry: registry.clone(),
            })?;
            let mut text = serde_json::to_string_pretty(&proof).map_err(|e| CliError::Output(e.into()))?;
            text.push('\n');
            match out {
                Some(path) => {
                    capsule::pack::write::atomic_write(&path, text.as_bytes())
                        .map_err(|source| CliError::Write { path: path.clone(), source })?;
                    output::line(&format!("wrote the inclusion proof of {} into {}", p.hash, path.display()))?;
                }
                None => output::line(text.trim_end())?,
            }
        }
    }
    Ok(ExitCode::OK)
}
