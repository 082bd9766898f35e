//! The CapsuleBench receipt standard.
//!
//! This crate is everything a third party needs to check a receipt, and
//! nothing more: canonical hashing ([`canonical`], [`digest`]), row
//! commitments ([`rows`]), the versioned objects ([`objects`]), the event
//! chain ([`events`]), capsulepacks ([`pack`]), the builder that seals them
//! ([`builder`]), the shipped policies ([`standard`]), signatures, ACLs, the policy
//! registry and data-availability audits ([`trust`]), the strict verifier
//! ([`verify`]) and the live stream's messages ([`stream`]); [`text`] names the characters of pack text that are never
//! shown as they are. [`sample`] builds a deterministic sample run for fixtures.
//!
//! It never opens a network connection and never executes anything a pack
//! contains; a test checks that its dependency tree holds no HTTP client or
//! async runtime.

pub mod builder;
pub mod canonical;
pub mod compare;
pub mod digest;
pub mod events;
pub mod objects;
pub mod pack;
pub mod rows;
pub mod sample;
pub mod standard;
pub mod stream;
pub mod text;
pub mod trust;
pub mod verify;

pub use digest::{Digest, Tag};
