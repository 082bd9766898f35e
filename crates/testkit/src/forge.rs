//! The attacker's workbench: read a pack into its members, edit them, and
//! reseal it the way a forger would, recomputing every hash reachable from
//! the pack's own data (rows → chunks → trace root, member digests, the
//! proof digests the samples record, the claimed aggregates, the
//! statement's hashes and anchors, the event chain, the capsule's listing).
//!
//! What a reseal cannot reach is exactly what the verifier may rely on:
//! the statement hash absorbed by a proof, a pinned policy, a signature,
//! the verifier's own randomness.

use std::collections::BTreeMap;
use std::path::Path;

use capsule::digest::{Digest, Tag, plain, tagged};
use capsule::objects::{ManifestKind, MeasurementsV1, paths};
use capsule::pack::{Limits, PackError, PackWriter, read_members};
use capsule::rows::{self, RowParams};
use serde_json::Value;

/// A pack taken apart: `capsule.json` as JSON and every other member's
/// bytes, by path.
#[derive(Clone, Debug)]
pub struct Forged {
    /// `capsule.json`.
    pub capsule: Value,
    /// Every other member, signatures included.
    pub members: BTreeMap<String, Vec<u8>>,
}

/// RFC 8785 bytes of `v`.
pub fn jcs(v: &Value) -> Vec<u8> {
    serde_jcs::to_vec(v).unwrap()
}

impl Forged {
    /// Takes the pack in `bytes` apart.
    pub fn read(bytes: &[u8]) -> Forged {
        let mut capsule = None;
        let mut members = BTreeMap::new();
        read_members::<_, PackError, _>(bytes, &Limits::default(), |m| {
            let b = m.read_all()?;
            if m.path == paths::CAPSULE {
                capsule = Some(serde_json::from_slice(&b).unwrap());
            } else {
                members.insert(m.path.to_owned(), b);
            }
            Ok(())
        })
        .unwrap();
        Forged { capsule: capsule.unwrap(), members }
    }

    /// Takes the pack at `path` apart.
    pub fn open(path: &Path) -> Forged {
        Forged::read(&std::fs::read(path).unwrap())
    }

    /// A JSON member, parsed.
    pub fn json(&self, path: &str) -> Value {
        serde_json::from_slice(&self.members[path]).unwrap()
    }

    /// Replaces a JSON member with the canonical bytes of `v`.
    pub fn set_json(&mut self, path: &str, v: &Value) {
        self.members.insert(path.to_owned(), jcs(v));
    }

    /// The capsule hash (the plain SHA-256 of `capsule.json`).
    pub fn capsule_hash(&self) -> Digest {
        plain(&jcs(&self.capsule))
    }

    /// The statement hash as the capsule names it.
    pub fn statement_hash(&self) -> Digest {
        tagged(Tag::Statement, &self.members[paths::STATEMENT])
    }

    /// The member digest of the packed proof, if the capsule declares one.
    pub fn proof_digest(&self) -> Option<Digest> {
        let member = self.capsule["proof"]["member"].as_str()?;
        self.members.get(member).map(|b| tagged(Tag::Member, b))
    }

    /// Replaces the packed proof the capsule names and, as a forger would,
    /// the digest the sample that recorded the old proof claims, then
    /// reseals.
    pub fn replace_proof(&mut self, proof: Vec<u8>) {
        let member = self.capsule["proof"]["member"].as_str().unwrap().to_owned();
        self.replace_member_proof(&member, proof);
    }

    /// Replaces the proof in `member` (under `proofs/`), pointing the
    /// sample that recorded it at the new one, then reseals.
    pub fn replace_member_proof(&mut self, member: &str, proof: Vec<u8>) {
        let old = tagged(Tag::Member, &self.members[member]);
        self.members.insert(member.to_owned(), proof);
        self.reseal(member, old);
    }

    /// The members under `proofs/`, by path.
    pub fn proof_members(&self) -> Vec<String> {
        self.members.keys().filter(|p| p.starts_with(paths::PROOFS_DIR)).cloned().collect()
    }

    /// The pack's bytes, members in canonical order.
    pub fn write(&self) -> Vec<u8> {
        let mut w = PackWriter::new(Vec::new());
        w.append_bytes(paths::CAPSULE, &jcs(&self.capsule)).unwrap();
        let (signatures, listed): (Vec<_>, Vec<_>) =
            self.members.iter().partition(|(p, _)| p.starts_with(paths::SIGNATURES_DIR));
        for (path, b) in listed.into_iter().chain(signatures) {
            w.append_bytes(path, b).unwrap();
        }
        w.finish().unwrap()
    }

    /// Writes the pack to `path`.
    pub fn write_to(&self, path: &Path) {
        std::fs::write(path, self.write()).unwrap();
    }

    /// The forger's reseal. `changed` is the member that was edited (rows
    /// edited are recommitted into the chunk list; an edited chunk list is
    /// kept as edited); `old_proof` is the proof member's digest before the
    /// edit (samples recording it are pointed at the new proof).
    pub fn reseal(&mut self, changed: &str, old_proof: Digest) {
        let cap = &mut self.capsule;
        let params: Option<RowParams> = serde_json::from_value(serde_json::json!({
            "row_width": cap["commitment"]["row_width"],
            "chunk_len": cap["commitment"]["chunk_len"],
            "arity": cap["commitment"]["arity"],
        }))
        .ok()
        .filter(|p: &RowParams| p.validate().is_ok());
        if changed == paths::ROWS
            && let (Some(params), Some(rows_bytes)) = (params, self.members.get(paths::ROWS))
            && let Ok((_, leaves)) = rows::commit(params, rows_bytes)
        {
            let chunks: Vec<u8> = leaves.iter().flat_map(|d| d.0).collect();
            self.members.insert(paths::CHUNKS.to_owned(), chunks);
        }
        if let Some(params) = params
            && let Some(chunks) = self.members.get(paths::CHUNKS)
            && let Some(row_count) = cap["commitment"]["row_count"].as_u64()
        {
            let leaves: Vec<Digest> = chunks.chunks_exact(32).map(|c| Digest(c.try_into().unwrap())).collect();
            let root = rows::root_from_leaves(&params, row_count, &leaves);
            cap["commitment"]["root"] = root.to_string().into();
        }
        // The proof whose digest the samples must follow: the edited one,
        // or the one the capsule names.
        let proof_member = if changed.starts_with(paths::PROOFS_DIR) && self.members.contains_key(changed) {
            Some(changed)
        } else {
            cap["proof"]["member"].as_str()
        };
        if let Some(proof_member) = proof_member
            && let Some(proof) = self.members.get(proof_member)
        {
            let new = tagged(Tag::Member, proof);
            if new != old_proof
                && let Some(Ok(mut m)) =
                    self.members.get(paths::MEASUREMENTS).map(|b| serde_json::from_slice::<Value>(b))
            {
                for s in m["series"].as_array_mut().unwrap() {
                    for sample in s["samples"].as_array_mut().unwrap() {
                        if sample["proof_digest"].as_str() == Some(&old_proof.to_string()) {
                            sample["proof_digest"] = new.to_string().into();
                        }
                    }
                }
                self.members.insert(paths::MEASUREMENTS.to_owned(), jcs(&m));
            }
        }
        // Claims are derived data: a forger recomputes them too.
        if let Some(Ok(m)) = self.members.get(paths::MEASUREMENTS).map(|b| serde_json::from_slice::<MeasurementsV1>(b))
        {
            cap["measurements"]["claims"] = serde_json::to_value(m.derive_claims()).unwrap();
        }
        if let Some(Ok(mut st)) = self.members.get(paths::STATEMENT).map(|b| serde_json::from_slice::<Value>(b)) {
            if let Some(b) = self.members.get(paths::TRACE_SPEC) {
                st["trace_spec_hash"] = tagged(Tag::TraceSpec, b).to_string().into();
            }
            if let Some(b) = self.members.get(paths::POLICY) {
                st["policy_hash"] = tagged(Tag::Policy, b).to_string().into();
            }
            st["trace_root"] = cap["commitment"]["root"].clone();
            for kind in ManifestKind::ALL {
                match self.members.get(kind.path()) {
                    Some(b) => st["anchors"][kind.anchor()] = tagged(Tag::Manifest, b).to_string().into(),
                    None => {
                        st["anchors"].as_object_mut().unwrap().remove(kind.anchor());
                    }
                }
            }
            let bytes = jcs(&st);
            cap["statement"] = tagged(Tag::Statement, &bytes).to_string().into();
            self.members.insert(paths::STATEMENT.to_owned(), bytes);
        }
        // Re-link the event chain.
        let mut head = Digest::ZERO;
        let mut out = Vec::new();
        let mut count = 0u64;
        let events = self.members.get(paths::EVENTS).cloned().unwrap_or_default();
        for line in events.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let bytes = match serde_json::from_slice::<Value>(line) {
                Ok(mut e) => {
                    e["prev"] = head.to_string().into();
                    jcs(&e)
                }
                Err(_) => line.to_vec(),
            };
            head = tagged(Tag::Event, &bytes);
            out.extend_from_slice(&bytes);
            out.push(b'\n');
            count += 1;
        }
        if self.members.contains_key(paths::EVENTS) {
            self.members.insert(paths::EVENTS.to_owned(), out);
        }
        cap["events"]["head"] = head.to_string().into();
        cap["events"]["count"] = count.into();
        cap["members"] = self
            .members
            .iter()
            .filter(|(path, _)| !path.starts_with(paths::SIGNATURES_DIR))
            .map(|(path, b)| {
                let digest = match params {
                    Some(params) if path == paths::ROWS => {
                        rows::commit(params, b).map(|(c, _)| c.root).unwrap_or(Digest::ZERO)
                    }
                    _ => tagged(Tag::Member, b),
                };
                serde_json::json!({"path": path, "size": b.len(), "digest": digest.to_string()})
            })
            .collect();
    }
}
