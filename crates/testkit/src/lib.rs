//! Test support shared by the crates' tests and the end-to-end tests: a
//! local Sigstore instance whose `trusted_root.json` a test passes to the
//! verifier ([`sigstore`]), and a loopback server that plays the GitHub
//! Actions OIDC token endpoint, Fulcio (v2) and Rekor (v1) for it
//! ([`server`]). Nothing here reaches the internet. [`forge`] takes packs
//! apart and reseals them as an attacker would.

#![expect(clippy::unwrap_used, reason = "test support fails loudly on a broken fixture")]

pub mod forge;
pub mod server;
pub mod sigstore;
