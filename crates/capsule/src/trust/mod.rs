//! Who vouches for a receipt.
//!
//! A verified capsule says *what* was claimed; this module says *who*
//! claims it and whether they may. Signatures are DSSE envelopes over an
//! in-toto statement about the capsule hash ([`dsse`]), made with a
//! repository key ([`key`]) or through Sigstore ([`sigstore`]); the verifier
//! pins who may sign per policy id ([`acl`]) and which policies are
//! recognized ([`registry`]); [`audit`] checks, by the verifier's own random
//! draws, that the rows behind a trace root are still retrievable. Every
//! trust root here comes from the verifier's user, never from a pack.

pub mod acl;
pub mod attach;
pub mod audit;
pub mod dsse;
pub mod key;
pub mod registry;
pub mod sigstore;
