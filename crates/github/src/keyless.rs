//! Keyless signing in GitHub Actions: the job's OIDC token (audience
//! `sigstore`), a short-lived Fulcio certificate for it, and a Sigstore
//! bundle (v0.3, DSSE) over the capsule's in-toto receipt statement, logged
//! in Rekor.
//!
//! Only a job granted `id-token: write` can ask for the token; the
//! workflows `cargo capsule init` writes grant it to a signing job that runs
//! no workload or build code, never to the bench job, and never for a pull
//! request's run.

use sigstore_sign::oidc::IdentityToken;
use sigstore_sign::{SigningContext, SigningServices, SigstoreInstance};

/// The audience Sigstore's Fulcio accepts.
pub const AUDIENCE: &str = "sigstore";

/// Why keyless signing failed.
#[derive(Debug, thiserror::Error)]
pub enum KeylessError {
    /// Not in a CI job that can mint an OIDC token.
    #[error(
        "no OIDC token can be requested here: keyless signing runs in a GitHub Actions job (`GITHUB_ACTIONS=true`); sign elsewhere with `--key`"
    )]
    NotInActions,
    /// In Actions, but the job lacks the permission (the variable unset).
    #[error(
        "this GitHub Actions job cannot request an OIDC token (`{0}` is unset): add `id-token: write` to the signing job's `permissions:` (never to the job that runs the benchmark)"
    )]
    NoIdToken(&'static str),
    /// A run of an event that may not sign (described).
    #[error(
        "refusing to sign in a {0} run: packs are signed only in runs of `push`, `release`, `schedule` or `workflow_dispatch` (or a `workflow_run` of one); a pull request's, a merge queue's or a comment's run comes from code nobody reviewed yet"
    )]
    Untrusted(String),
    /// The token request failed.
    #[error("the OIDC token request failed")]
    Token(#[source] ambient_id::Error),
    /// The token is not a JWT with the claims Sigstore needs.
    #[error("the OIDC token is not usable")]
    BadToken(#[source] sigstore_sign::oidc::Error),
    /// Fulcio, Rekor or the bundle failed.
    #[error("Sigstore signing failed")]
    Sign(#[source] sigstore_sign::Error),
    /// The bundle did not serialize.
    #[error("the Sigstore bundle does not serialize")]
    Bundle(#[source] sigstore_sign::types::Error),
    /// The async runtime could not start.
    #[error("failed to start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// The events whose runs may sign: a push, a release, a schedule or a
/// manual dispatch (run as the repository's reviewed code). Everything else
/// (a pull request, a merge queue, a comment anyone can post) is refused.
pub const SIGNING_EVENTS: &[&str] = &["push", "release", "schedule", "workflow_dispatch"];

/// Refuses to sign in a run of any event outside [`SIGNING_EVENTS`]:
/// `event_name` is `GITHUB_EVENT_NAME`, `event` the payload at
/// `GITHUB_EVENT_PATH`. A `workflow_run` signs only when the run that
/// triggered it (whose packs it holds) was of one of those events. Without
/// an event name (not in Actions) the token request says what is wrong.
pub fn refuse_untrusted(event_name: Option<&str>, event: Option<&serde_json::Value>) -> Result<(), KeylessError> {
    let trusted = |e: &str| SIGNING_EVENTS.contains(&e);
    match event_name {
        None => Ok(()),
        Some(e) if trusted(e) => Ok(()),
        Some("workflow_run") => match event.and_then(|v| v["workflow_run"]["event"].as_str()) {
            Some(t) if trusted(t) => Ok(()),
            Some(t) => Err(KeylessError::Untrusted(format!("`workflow_run` (triggered by `{t}`)"))),
            None => Err(KeylessError::Untrusted("`workflow_run` (of an unknown trigger)".to_owned())),
        },
        Some(e) => Err(KeylessError::Untrusted(format!("`{e}`"))),
    }
}

/// Requests this GitHub Actions job's OIDC token for `audience` (through
/// `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, with
/// `ambient-id`). Outside Actions, or without `id-token: write`, the error
/// says what to change.
pub fn actions_id_token(audience: &str) -> Result<IdentityToken, KeylessError> {
    if std::env::var("GITHUB_ACTIONS").ok().as_deref() != Some("true") {
        return Err(KeylessError::NotInActions);
    }
    for var in ["ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"] {
        if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            return Err(KeylessError::NoIdToken(var));
        }
    }
    let token = crate::runtime()
        .map_err(KeylessError::Runtime)?
        .block_on(ambient_id::Detector::new().detect(audience))
        .map_err(KeylessError::Token)?
        .ok_or(KeylessError::NotInActions)?;
    IdentityToken::from_jwt(token.reveal()).map_err(KeylessError::BadToken)
}

/// Where to sign: Sigstore's public-good instance, or a private one.
#[derive(Clone, Debug, Default)]
pub struct Instance {
    /// Fulcio and Rekor URLs of a private instance; `None` is public good.
    pub urls: Option<(String, String)>,
}

impl Instance {
    /// The signing context of this instance.
    fn context(&self) -> Result<SigningContext, KeylessError> {
        match &self.urls {
            Some((fulcio, rekor)) => Ok(SigningContext::new(SigningServices::new(fulcio.clone(), rekor.clone()))),
            None => SigningContext::from_embedded(SigstoreInstance::PublicGood).map_err(KeylessError::Sign),
        }
    }
}

/// Signs an in-toto `statement` with a short-lived certificate for
/// `token`; returns the bundle's JSON (v0.3, DSSE envelope, logged in
/// Rekor).
pub fn sign_statement(statement: &[u8], token: IdentityToken, instance: &Instance) -> Result<Vec<u8>, KeylessError> {
    signed(token, instance, |s| async move { s.sign_raw_statement(statement).await })
}

/// Signs `blob` with a short-lived certificate for `token`; returns the
/// bundle's JSON (v0.3, a message signature over the blob's SHA-256,
/// logged in Rekor as a `hashedrekord`: the kind `cosign sign-blob --bundle`
/// writes).
pub fn sign_blob(blob: &[u8], token: IdentityToken, instance: &Instance) -> Result<Vec<u8>, KeylessError> {
    signed(token, instance, |s| async move { s.sign(blob).await })
}

/// Runs `sign` with a signer for `token` on `instance`, and returns the
/// bundle it makes as JSON.
fn signed<F, Fut>(token: IdentityToken, instance: &Instance, sign: F) -> Result<Vec<u8>, KeylessError>
where
    F: FnOnce(sigstore_sign::Signer) -> Fut,
    Fut: std::future::Future<Output = Result<sigstore_sign::types::Bundle, sigstore_sign::Error>>,
{
    let signer = instance.context()?.signer(token);
    let bundle = crate::runtime().map_err(KeylessError::Runtime)?.block_on(sign(signer)).map_err(KeylessError::Sign)?;
    bundle.to_json().map(String::into_bytes).map_err(KeylessError::Bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reviewed_code_runs_sign() {
        let run = |t: &str| serde_json::json!({"workflow_run": {"event": t}});
        let cases: &[(Option<&str>, Option<serde_json::Value>, bool)] = &[
            (Some("push"), None, true),
            (Some("release"), None, true),
            (Some("workflow_dispatch"), None, true),
            (Some("schedule"), None, true),
            (None, None, true),
            (Some("issue_comment"), None, false),
            (Some("merge_group"), None, false),
            (Some("pull_request"), None, false),
            (Some("pull_request_target"), None, false),
            (Some("pull_request_review"), None, false),
            (Some("workflow_run"), Some(run("push")), true),
            (Some("workflow_run"), Some(run("pull_request")), false),
            (Some("workflow_run"), Some(run("issue_comment")), false),
            (Some("workflow_run"), Some(serde_json::json!({})), false),
            (Some("workflow_run"), None, false),
        ];
        for (name, event, allowed) in cases {
            assert_eq!(refuse_untrusted(*name, event.as_ref()).is_ok(), *allowed, "{name:?} {event:?}");
        }
    }
}
