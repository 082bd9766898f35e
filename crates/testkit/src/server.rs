//! A loopback server playing the three services keyless signing talks to,
//! each checking what the real one checks:
//!
//! - `GET /token?api-version=2.0&audience=A`: the GitHub Actions OIDC
//!   token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`); requires the bearer
//!   request token and mints a JWT with GitHub's claim names for the
//!   configured [`Claims`] and audience `A`.
//! - `POST /fulcio/api/v2/signingCert`: Fulcio; requires a token this
//!   server minted for audience `sigstore` and a valid proof of possession
//!   (the key's signature over the token's subject), then certifies the key
//!   with the token's claims mapped to Fulcio's extensions.
//! - `POST /rekor/api/v1/log/entries`: Rekor v1 for `dsse` entries; checks
//!   the envelope's signature against the proposed verifier certificate,
//!   then logs it ([`LocalSigstore::log_dsse`]); and for `hashedrekord`
//!   entries (a blob's signature), checks the signature over the digest.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use der::Encode as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde_json::{Value, json};

use crate::sigstore::{Claims, LocalSigstore, pae, pem_cert};

/// What the server saw, and how it should misbehave.
#[derive(Debug, Default)]
pub struct Seen {
    /// `audience` of each token request.
    pub token_audiences: Vec<String>,
    /// Certificates issued.
    pub certificates: usize,
    /// Entries logged.
    pub entries: usize,
    /// Answer Fulcio requests with this status and message.
    pub fulcio_failure: Option<(u16, String)>,
    /// Every refusal, as `service: why`.
    pub refusals: Vec<String>,
}

/// A running server.
pub struct SigstoreServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// What it saw.
    pub seen: Arc<Mutex<Seen>>,
}

impl SigstoreServer {
    /// The value of `ACTIONS_ID_TOKEN_REQUEST_URL` (GitHub's carries a query).
    pub fn token_url(&self) -> String {
        format!("{}/token?api-version=2.0", self.base)
    }

    /// Fulcio's base URL.
    pub fn fulcio_url(&self) -> String {
        format!("{}/fulcio", self.base)
    }

    /// Rekor's base URL.
    pub fn rekor_url(&self) -> String {
        format!("{}/rekor", self.base)
    }
}

/// A JWT with GitHub Actions' claim names (unsigned: the local Fulcio
/// accepts only tokens it remembers minting).
pub fn github_jwt(claims: &Claims, audience: &str) -> String {
    let gh = |uri: &str| uri.strip_prefix("https://github.com/").unwrap_or(uri).to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let repository = gh(&claims.repository_uri);
    // The run's ref is the workflow's (`…/bench.yml@refs/heads/main`).
    let git_ref = claims.workflow.rsplit_once('@').map_or("refs/heads/main", |(_, r)| r);
    let event = if git_ref.starts_with("refs/pull/") { "pull_request" } else { "push" };
    // `…/actions/runs/ID/attempts/N`, as GitHub's `run_id` and `run_attempt`.
    let mut run = claims.run_uri.rsplit('/');
    let (attempt, _, run_id) = (run.next().unwrap_or("1"), run.next(), run.next().unwrap_or("0"));
    let payload = json!({
        "iss": claims.issuer, "aud": audience, "iat": now, "nbf": now, "exp": now + 300,
        "sub": format!("repo:{repository}:ref:{git_ref}"),
        "repository": repository, "repository_id": claims.repository_id,
        "job_workflow_ref": gh(&claims.workflow), "sha": claims.commit,
        "runner_environment": claims.runner, "event_name": event, "ref": git_ref,
        "run_id": run_id, "run_attempt": attempt,
    });
    let header = B64URL.encode(br#"{"alg":"RS256","typ":"JWT","kid":"test"}"#);
    format!("{header}.{}.{}", B64URL.encode(payload.to_string()), B64URL.encode(b"not a real signature"))
}

fn jwt_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&B64URL.decode(payload).ok()?).ok()
}

/// Starts the server: tokens need `Authorization: Bearer {request_token}`
/// and carry `claims`; certificates and log entries come from `instance`.
pub fn start(instance: Arc<LocalSigstore>, claims: Claims, request_token: &str) -> SigstoreServer {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    let bearer = format!("Bearer {request_token}");
    std::thread::spawn(move || {
        let mut minted: Vec<String> = Vec::new();
        for mut req in server.incoming_requests() {
            let mut body = Vec::new();
            if req.as_reader().read_to_end(&mut body).is_err() {
                continue;
            }
            let (path, query) = req.url().split_once('?').unwrap_or((req.url(), ""));
            let (path, query) = (path.to_owned(), query.to_owned());
            let auth = req.headers().iter().find(|h| h.field.equiv("Authorization")).map(|h| h.value.to_string());
            let mut seen = state.lock().unwrap();
            let (status, reply) = match (req.method().as_str(), path.as_str()) {
                ("GET", "/token") => {
                    let audience = query.split('&').find_map(|kv| kv.strip_prefix("audience=")).map(str::to_owned);
                    match (auth.as_deref() == Some(bearer.as_str()), audience) {
                        (false, _) => (401, json!({"message": "Bad credentials"})),
                        (true, None) => (400, json!({"message": "audience is required"})),
                        (true, Some(audience)) => {
                            seen.token_audiences.push(audience.clone());
                            let jwt = github_jwt(&claims, &audience);
                            minted.push(jwt.clone());
                            (200, json!({"count": 1, "value": jwt}))
                        }
                    }
                }
                ("POST", "/fulcio/api/v2/signingCert") => match &seen.fulcio_failure {
                    Some((status, message)) => (*status, json!({"code": status, "message": message})),
                    None => match fulcio(&instance, &minted, &body) {
                        Ok(chain) => {
                            seen.certificates += 1;
                            (200, json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}))
                        }
                        Err(why) => {
                            seen.refusals.push(format!("fulcio: {why}"));
                            (401, json!({"code": 16, "message": why}))
                        }
                    },
                },
                ("POST", "/rekor/api/v1/log/entries") => match rekor(&instance, &body) {
                    Ok(entry) => {
                        seen.entries += 1;
                        (201, entry)
                    }
                    Err(why) => {
                        seen.refusals.push(format!("rekor: {why}"));
                        (400, json!({"code": 400, "message": why}))
                    }
                },
                _ => (404, json!({"message": "Not Found"})),
            };
            drop(seen);
            let resp = tiny_http::Response::from_string(reply.to_string())
                .with_status_code(status)
                .with_header(tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap());
            let _ = req.respond(resp);
        }
    });
    SigstoreServer { base, seen }
}

fn fulcio(instance: &LocalSigstore, minted: &[String], body: &[u8]) -> Result<Vec<String>, String> {
    let req: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let jwt = req["credentials"]["oidcIdentityToken"].as_str().ok_or("no oidcIdentityToken")?;
    if !minted.iter().any(|m| m == jwt) {
        return Err("the identity token was not issued by this server".into());
    }
    let c = jwt_claims(jwt).ok_or("the token's claims do not parse")?;
    if c["aud"] != "sigstore" {
        return Err(format!("audience {} is not `sigstore`", c["aud"]));
    }
    let pem = req["publicKeyRequest"]["publicKey"]["content"].as_str().ok_or("no public key")?;
    let key = VerifyingKey::from_public_key_pem(pem).map_err(|e| format!("public key: {e}"))?;
    let pop = req["publicKeyRequest"]["proofOfPossession"].as_str().ok_or("no proof of possession")?;
    let pop = Signature::from_der(&B64.decode(pop).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let sub = c["sub"].as_str().ok_or("no subject")?;
    key.verify(sub.as_bytes(), &pop).map_err(|_| "the proof of possession does not verify")?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    let claims = Claims {
        issuer: s("iss"),
        repository_uri: format!("https://github.com/{}", s("repository")),
        repository_id: s("repository_id"),
        workflow: format!("https://github.com/{}", s("job_workflow_ref")),
        runner: s("runner_environment"),
        commit: s("sha"),
        // Fulcio's Run Invocation URI, from the token's run claims.
        run_uri: format!(
            "https://github.com/{}/actions/runs/{}/attempts/{}",
            s("repository"),
            s("run_id"),
            s("run_attempt")
        ),
    };
    let leaf = instance.issue(key.to_encoded_point(false).as_bytes(), &claims);
    Ok(vec![pem_cert(&leaf), instance.ca_pem()])
}

/// The leaf key of a PEM certificate chain.
fn leaf_key(chain_pem: &str) -> Result<VerifyingKey, String> {
    let cert = x509_cert::Certificate::load_pem_chain(chain_pem.as_bytes()).map_err(|e| format!("verifier: {e}"))?;
    let spki = cert.first().ok_or("empty verifier")?.tbs_certificate.subject_public_key_info.to_der();
    VerifyingKey::from_public_key_der(&spki.map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// A `hashedrekord` entry (a blob's signature, as `cosign sign-blob` and
/// sigstore-rs make): the signature must verify over the SHA-256 digest
/// given, under the certificate's key.
fn hashedrekord(instance: &LocalSigstore, req: &Value) -> Result<Value, String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let spec = &req["spec"];
    if spec["data"]["hash"]["algorithm"] != "sha256" {
        return Err(format!("unsupported hash {}", spec["data"]["hash"]["algorithm"]));
    }
    let digest = hex::decode(spec["data"]["hash"]["value"].as_str().ok_or("no hash")?).map_err(|e| e.to_string())?;
    let sig_b64 = spec["signature"]["content"].as_str().ok_or("no signature")?;
    let cert_b64 = spec["signature"]["publicKey"]["content"].as_str().ok_or("no public key")?;
    let sig = Signature::from_der(&B64.decode(sig_b64).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let pem = String::from_utf8(B64.decode(cert_b64).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    leaf_key(&pem)?.verify_prehash(&digest, &sig).map_err(|_| "the signature does not verify over the digest")?;
    let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hex::encode(&digest)}},
        "signature": {"content": sig_b64, "publicKey": {"content": cert_b64}}
    }});
    Ok(instance.rekor_v1_response(&instance.log_body(&body)))
}

fn rekor(instance: &LocalSigstore, body: &[u8]) -> Result<Value, String> {
    let req: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if req["kind"] == "hashedrekord" && req["apiVersion"] == "0.0.1" {
        return hashedrekord(instance, &req);
    }
    if req["kind"] != "dsse" || req["apiVersion"] != "0.0.1" {
        return Err(format!("unsupported kind {} {}", req["kind"], req["apiVersion"]));
    }
    let proposed = &req["spec"]["proposedContent"];
    let envelope = proposed["envelope"].as_str().ok_or("no envelope")?;
    let verifier = proposed["verifiers"][0].as_str().ok_or("no verifier")?;
    let env: Value = serde_json::from_str(envelope).map_err(|e| format!("envelope: {e}"))?;
    let payload = B64.decode(env["payload"].as_str().ok_or("no payload")?).map_err(|e| e.to_string())?;
    let payload_type = env["payloadType"].as_str().ok_or("no payloadType")?;
    let sig = B64.decode(env["signatures"][0]["sig"].as_str().ok_or("no signature")?).map_err(|e| e.to_string())?;
    let verifier_pem =
        String::from_utf8(B64.decode(verifier).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let key = leaf_key(&verifier_pem)?;
    let signature = Signature::from_der(&sig).map_err(|e| e.to_string())?;
    key.verify(&pae(payload_type, &payload), &signature).map_err(|_| "the envelope's signature does not verify")?;
    let entry = instance.log_dsse(envelope.as_bytes(), &payload, &sig, &verifier_pem);
    Ok(instance.rekor_v1_response(&entry))
}
