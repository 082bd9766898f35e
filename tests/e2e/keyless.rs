//! `cargo capsule sign --sigstore` end to end against a loopback Sigstore
//! (`capsule-testkit`): the GitHub Actions token endpoint, Fulcio and
//! Rekor, each checking what the real service checks. The bundle the
//! binary attaches verifies under the local instance's trusted root, has
//! the shape of the conformance suite's DSSE v0.3 bundle, and names the
//! workflow that signed; every way the job can be set up wrong gives the
//! fix and leaves the pack as it was. Nothing reaches the internet.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use capsule_testkit::server::{self, SigstoreServer};
use capsule_testkit::sigstore::{Claims, LocalSigstore};
use serde_json::Value;

use crate::{GOLDEN, bin, codes, json, root, stdout};

const REQUEST_TOKEN: &str = "actions-runtime-token";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `sign --sigstore` as a GitHub Actions job with `id-token: write` would
/// run it, with `env` changed (`None` removes a variable).
fn sign(d: &Path, s: &SigstoreServer, env: &[(&str, Option<&str>)]) -> Output {
    sign_with(d, s, &[], env)
}

/// [`sign`] with more arguments.
fn sign_with(d: &Path, s: &SigstoreServer, args: &[&str], env: &[(&str, Option<&str>)]) -> Output {
    let mut c = bin();
    c.args(["sign", "p.tgz", "--sigstore", "--trusted-root", "root.json"]).args(args);
    in_signing_job(&mut c, d, s, env).output().unwrap()
}

/// `c` run in `d` as a GitHub Actions job of a push with `id-token: write`,
/// signing with the loopback Sigstore `s`, with `env` changed (`None`
/// removes a variable).
fn in_signing_job<'c>(
    c: &'c mut std::process::Command,
    d: &Path,
    s: &SigstoreServer,
    env: &[(&str, Option<&str>)],
) -> &'c mut std::process::Command {
    c.current_dir(d)
        .args(["--fulcio-url", &s.fulcio_url(), "--rekor-url", &s.rekor_url()])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "push")
        .env_remove("GITHUB_EVENT_PATH")
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", s.token_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN);
    for (k, v) in env {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

/// The conformance suite's DSSE bundle (read in place), or `None` outside CI
/// when the vectors are missing.
fn conformance_dsse_bundle() -> Option<Value> {
    conformance_bundle("happy-path-intoto-in-dsse-v3")
}

/// Every key path of a JSON value, with the type at each leaf (arrays by
/// their first element).
fn shape(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| shape(v, &format!("{at}/{k}"), out)),
        Value::Array(a) => {
            out.push(format!("{at}[]"));
            if let Some(first) = a.first() {
                shape(first, &format!("{at}[]"), out);
            }
        }
        Value::String(_) => out.push(format!("{at}: string")),
        Value::Number(_) => out.push(format!("{at}: number")),
        other => out.push(format!("{at}: {other}")),
    }
    out.sort();
}

/// The keyless bundle a pack carries.
fn keyless_bundle(pack: &Path) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let name = "signatures/keyless.sigstore.json";
    let o =
        std::process::Command::new("tar").arg("-xzf").arg(pack).arg("-C").arg(dir.path()).arg(name).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap()
}

/// In `d`: the golden pack to sign (`p.tgz`) and the local instance's
/// `root.json`; returns the running loopback Sigstore.
fn setup(d: &Path) -> SigstoreServer {
    std::fs::copy(root().join(GOLDEN), d.join("p.tgz")).unwrap();
    let instance = Arc::new(LocalSigstore::new());
    std::fs::write(d.join("root.json"), instance.trusted_root()).unwrap();
    server::start(instance, Claims::default(), REQUEST_TOKEN)
}

#[test]
fn keyless_signing_against_a_loopback_sigstore() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let s = setup(d);
    let claims = Claims::default();
    let unsigned = std::fs::read(d.join("p.tgz")).unwrap();

    // Each wrong setup: the fix in the message, exit 7, the pack untouched,
    // and no certificate asked for.
    type Case<'a> = (&'a str, &'a [(&'a str, Option<&'a str>)], &'a str);
    let workflow_run = d.join("workflow_run.json");
    std::fs::write(&workflow_run, r#"{"workflow_run": {"event": "pull_request", "id": 1}}"#).unwrap();
    let workflow_run = workflow_run.to_str().unwrap();
    let cases: &[Case] = &[
        ("a pull request's run", &[("GITHUB_EVENT_NAME", Some("pull_request_target"))], "nobody reviewed yet"),
        (
            "a comment's run",
            &[("GITHUB_EVENT_NAME", Some("issue_comment"))],
            "refusing to sign in a `issue_comment` run",
        ),
        (
            "a workflow_run of a pull request",
            &[("GITHUB_EVENT_NAME", Some("workflow_run")), ("GITHUB_EVENT_PATH", Some(workflow_run))],
            "(triggered by `pull_request`)",
        ),
        ("not in GitHub Actions", &[("GITHUB_ACTIONS", None)], "sign elsewhere with `--key`"),
        ("no id-token permission", &[("ACTIONS_ID_TOKEN_REQUEST_URL", None)], "add `id-token: write`"),
        ("a wrong request token", &[("ACTIONS_ID_TOKEN_REQUEST_TOKEN", Some("stale"))], "401"),
    ];
    for (case, env, fix) in cases {
        let o = sign(d, &s, env);
        assert_eq!(o.status.code(), Some(7), "{case}: {}", stderr(&o));
        assert!(stderr(&o).contains(fix), "{case}: {}", stderr(&o));
        assert_eq!(std::fs::read(d.join("p.tgz")).unwrap(), unsigned, "{case}: the pack changed");
    }
    assert!(s.seen.lock().unwrap().token_audiences.is_empty(), "no token was minted for a refused setup");
    // A private instance without its trusted root could never verify: a
    // usage error before anything is requested.
    let o = bin()
        .current_dir(d)
        .args(["sign", "p.tgz", "--sigstore", "--fulcio-url", &s.fulcio_url(), "--rekor-url", &s.rekor_url()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--trusted-root"), "{}", stderr(&o));
    s.seen.lock().unwrap().fulcio_failure = Some((403, "token audience not allowed".into()));
    let o = sign(d, &s, &[]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(stderr(&o).contains("403") && stderr(&o).contains("token audience not allowed"), "{}", stderr(&o));
    assert_eq!(std::fs::read(d.join("p.tgz")).unwrap(), unsigned);
    s.seen.lock().unwrap().fulcio_failure = None;

    // The real thing: a token for audience `sigstore`, one certificate, one
    // log entry, a bundle attached without changing the capsule.
    let o = sign(d, &s, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("with a Sigstore certificate for `repo:acme/bench:ref:refs/heads/main` (issuer https://token.actions.githubusercontent.com) into `signatures/keyless.sigstore.json`"),
        "{}",
        stdout(&o)
    );
    {
        let seen = s.seen.lock().unwrap();
        assert_eq!(seen.token_audiences.last().map(String::as_str), Some("sigstore"));
        assert_eq!((seen.certificates, seen.entries), (1, 1), "refusals: {:?}", seen.refusals);
    }
    let o = bin().current_dir(d).args(["verify", "p.tgz", "--json", "--trusted-root", "root.json"]).output().unwrap();
    let r = json(&o);
    assert_eq!(o.status.code(), Some(0), "{r}");
    assert_eq!(r["signed"], "signed-unpinned", "{r}");
    let signer = &r["signers"][0]["sigstore"];
    assert_eq!(signer["san"], claims.workflow.as_str(), "{r}");
    assert_eq!(signer["issuer"], claims.issuer.as_str(), "{r}");
    assert_eq!(signer["commit"], claims.commit.as_str(), "{r}");
    assert_eq!(signer["repository_id"], claims.repository_id.as_str(), "{r}");

    // The bundle: v0.3, DSSE over the in-toto receipt statement.
    let bundle = keyless_bundle(&d.join("p.tgz"));
    assert_eq!(bundle["mediaType"], "application/vnd.dev.sigstore.bundle.v0.3+json");
    assert_eq!(bundle["dsseEnvelope"]["payloadType"], "application/vnd.in-toto+json");
    assert_eq!(bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"], "dsse");

    // Under the production root (the default), the local instance is not
    // trusted: the same pack is rejected.
    let o = bin().current_dir(d).args(["verify", "p.tgz", "--json"]).output().unwrap();
    assert_eq!(codes(&json(&o)), ["signature-invalid"]);

    // Signing again replaces the keyless signature (one member).
    let o = sign(d, &s, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = bin().current_dir(d).args(["verify", "p.tgz", "--json", "--trusted-root", "root.json"]).output().unwrap();
    assert_eq!(json(&o)["signers"].as_array().unwrap().len(), 1, "{}", stdout(&o));
}

/// The bundle has the shape of the conformance suite's DSSE v0.3 bundle
/// (`happy-path-intoto-in-dsse-v3`, read in place): the same key paths with
/// the same types, so what the verifier accepts there it reads here.
#[test]
fn the_keyless_bundle_has_the_conformance_suites_shape() {
    let Some(reference) = conformance_dsse_bundle() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let o = sign(tmp.path(), &s, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    shape(&keyless_bundle(&tmp.path().join("p.tgz")), "", &mut ours);
    shape(&reference, "", &mut theirs);
    assert_eq!(ours, theirs, "the bundle's shape differs from the conformance suite's DSSE v0.3 bundle");
}

/// The whole chain as the workflows `cargo capsule init` writes run it: the
/// bench job (in "GitHub Actions") records the run, the signing job signs
/// keylessly as the same workflow, and a reader certifies the pack with an
/// ACL naming that workflow; an ACL naming another repository rejects it.
#[test]
fn a_ci_receipt_signed_by_the_signing_job_is_certified() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = super::bench::echo_workspace(tmp.path());
    let claims = Claims::default();
    let repository = claims.repository_uri.trim_start_matches("https://github.com/");
    let workflow_ref = claims.workflow.trim_start_matches("https://github.com/");

    // The bench job.
    let mut c = bin();
    c.current_dir(&ws)
        .args(["bench", "--out", "p.tgz", "--quiet"])
        .env("CARGO_TARGET_DIR", tmp.path().join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for (k, v) in [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", repository),
        ("GITHUB_REPOSITORY_ID", &claims.repository_id),
        ("GITHUB_SHA", &claims.commit),
        ("GITHUB_WORKFLOW_REF", workflow_ref),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "99"),
        ("GITHUB_RUN_ATTEMPT", "2"),
        ("RUNNER_ENVIRONMENT", &claims.runner),
    ] {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // The policy registry and the proof the signer carries.
    let d = &ws;
    std::fs::create_dir(d.join("policies")).unwrap();
    std::fs::copy(root().join("crates/capsule/policies/standard-v1.json"), d.join("policies/standard-v1.json"))
        .unwrap();
    let o = bin().current_dir(d).args(["policy", "registry", "build", "policies"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let registry_root = stdout(&o).split_whitespace().next().unwrap().to_owned();
    let o = bin()
        .current_dir(d)
        .args([
            "policy",
            "registry",
            "prove",
            "policies/standard-v1.json",
            "--registry",
            "policies",
            "--out",
            "proof.json",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // The signing job.
    let instance = Arc::new(LocalSigstore::new());
    std::fs::write(d.join("root.json"), instance.trusted_root()).unwrap();
    let sign_as = |claims: &Claims| {
        let s = server::start(instance.clone(), claims.clone(), REQUEST_TOKEN);
        let o = sign_with(d, &s, &["--registry-proof", "proof.json"], &[]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    };
    sign_as(&claims);

    // The reader.
    let certify = |acl_repository: &str| {
        let acl = serde_json::json!({"schema": "capsulebench/acl/v1", "policies": {"capsulebench-standard": {"sigstore": [{
            "issuer": claims.issuer, "repository": acl_repository, "repository_id": claims.repository_id,
            "workflow": claims.workflow, "runner": claims.runner,
        }]}}});
        std::fs::write(d.join("acl.json"), acl.to_string()).unwrap();
        bin()
            .current_dir(d)
            .args(["verify", "p.tgz", "--profile", "certified", "--json", "--acl", "acl.json"])
            .args(["--registry-root", &registry_root, "--trusted-root", "root.json"])
            .output()
            .unwrap()
    };
    let o = certify(repository);
    let r = json(&o);
    assert_eq!(o.status.code(), Some(0), "{r}");
    assert_eq!(r["signed"], "signed-by-allowed", "{r}");
    assert_eq!(r["signers"][0]["sigstore"]["commit"], claims.commit.as_str(), "{r}");
    let o = certify("evil/bench");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(codes(&json(&o)), ["sigstore-repository-mismatch"]);

    // Signed by the same workflow file at a pull request's ref, or by a run
    // at another commit than the one the bench job recorded: not certified.
    type Edit = fn(&mut Claims);
    let cases: &[(&str, Edit, &str)] = &[
        (
            "a pull request's ref",
            |c| c.workflow = c.workflow.replace("@refs/heads/main", "@refs/pull/7/merge"),
            "sigstore-workflow-mismatch",
        ),
        ("another commit", |c| c.commit = "0".repeat(40), "sigstore-commit-mismatch"),
        (
            "another run (the bench job's receipt signed by a later run)",
            |c| c.run_uri = "https://github.com/acme/bench/actions/runs/100/attempts/1".into(),
            "sigstore-run-mismatch",
        ),
    ];
    for (case, edit, code) in cases {
        let mut other = claims.clone();
        edit(&mut other);
        sign_as(&other);
        let o = certify(repository);
        assert_eq!(o.status.code(), Some(1), "{case}: {}", stdout(&o));
        assert_eq!(codes(&json(&o)), [*code], "{case}");
    }
}

/// `sign-blob` in the release workflow's signing job: a v0.3 message
/// signature over an archive, logged as a `hashedrekord`, with the shape of
/// the conformance suite's (`happy-path-v0.3`, as `cosign sign-blob`
/// makes); `verify-blob` accepts it only for that file, that workflow and
/// issuer, under a root that trusts the instance.
#[test]
fn a_release_archive_signed_keylessly_verifies_as_a_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let s = setup(d);
    let claims = Claims::default();
    let archive = "cargo-capsule-0.1.0-x86_64-unknown-linux-gnu.tar.gz";
    std::fs::write(d.join(archive), b"an archive's bytes").unwrap();
    let sign_blob = |env: &[(&str, Option<&str>)]| {
        let mut c = bin();
        c.args(["sign-blob", archive, "--sigstore", "--trusted-root", "root.json"]);
        in_signing_job(&mut c, d, &s, env).output().unwrap()
    };
    let bundle = d.join(format!("{archive}.sigstore.json"));
    let o = sign_blob(&[("GITHUB_EVENT_NAME", Some("pull_request"))]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(!bundle.exists());
    let o = sign_blob(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("as {}", claims.workflow)), "{}", stdout(&o));
    // Never overwritten.
    let o = sign_blob(&[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let b: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(b["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"], "hashedrekord", "{b}");
    if let Some(reference) = conformance_bundle("happy-path-v0.3") {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        shape(&b, "", &mut ours);
        shape(&reference, "", &mut theirs);
        assert_eq!(ours, theirs, "the blob bundle's shape differs from the conformance suite's v0.3 bundle");
    }

    let verify = |file: &str, identity: &str, root: Option<&str>| {
        let mut c = bin();
        c.current_dir(d).args(["verify-blob", file, "--bundle", bundle.to_str().unwrap()]);
        c.args(["--certificate-identity", identity]);
        if let Some(r) = root {
            c.args(["--trusted-root", r]);
        }
        c.output().unwrap()
    };
    let o = verify(archive, &claims.workflow, Some("root.json"));
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(&format!("signed by {}", claims.workflow)), "{}", stdout(&o));
    // Another workflow of the same repository, another file, the
    // production root: each rejected.
    let other = claims.workflow.replace("bench.yml", "other.yml");
    let o = verify(archive, &other, Some("root.json"));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("REJECTED") && stdout(&o).contains(&format!("not {other}")), "{}", stdout(&o));
    std::fs::write(d.join("tampered.tar.gz"), b"an archive's bytes, changed").unwrap();
    let o = verify("tampered.tar.gz", &claims.workflow, Some("root.json"));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = verify(archive, &claims.workflow, None);
    assert_eq!(o.status.code(), Some(1), "the local instance is not trusted by the production root: {}", stdout(&o));
}

/// A conformance-suite bundle by directory name, read in place (`None`
/// outside CI when the vectors are missing).
fn conformance_bundle(name: &str) -> Option<Value> {
    let p: PathBuf = root().join(format!("../shared/vectors/sigstore-conformance/{name}/bundle.sigstore.json"));
    match std::fs::read(&p) {
        Ok(b) => Some(serde_json::from_slice(&b).unwrap()),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "the Sigstore conformance vectors are missing at {}: {e}",
                p.display()
            );
            None
        }
    }
}
