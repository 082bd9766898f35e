//! Every object the verifier parses from bytes a pack (or a reader's
//! file) holds: the first byte picks the parser, the rest is the input.
#![no_main]

use capsule::canonical::parse;
use capsule::digest::Digest;
use capsule::objects as o;
use capsule::trust;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, bytes)) = data.split_first() else { return };
    match which % 18 {
        0 => drop(parse::<o::CapsuleV1>(bytes)),
        1 => drop(parse::<o::StatementV1>(bytes)),
        2 => drop(parse::<o::TraceSpecV1>(bytes)),
        3 => drop(parse::<o::PolicyV1>(bytes)),
        4 => drop(parse::<o::MeasurementsV1>(bytes).map(|m| {
            m.derive_claims();
            for s in &m.series {
                (0..s.metrics.len()).for_each(|i| {
                    let _ = s.aggregates(i);
                });
            }
        })),
        5 => drop(parse::<o::HardwareManifestV1>(bytes)),
        6 => drop(parse::<o::OsManifestV1>(bytes)),
        7 => drop(parse::<o::ToolchainManifestV1>(bytes)),
        8 => drop(parse::<o::GitManifestV1>(bytes)),
        9 => drop(parse::<o::CiManifestV1>(bytes)),
        10 => drop(parse::<o::ContainerManifestV1>(bytes)),
        11 => drop(parse::<o::EventV1>(bytes)),
        12 => drop(parse::<serde_json::Value>(bytes)),
        13 => drop(trust::key::verify_member(bytes, &Digest::ZERO)),
        14 => drop(trust::acl::Acl::from_bytes(bytes, "fuzz")),
        15 => drop(parse::<trust::registry::RegistryProofV1>(bytes)),
        16 => drop(parse::<trust::audit::ArchiveV1>(bytes)),
        _ => drop(trust::sigstore::TrustRoot::from_json(&String::from_utf8_lossy(bytes), "fuzz")),
    }
});
