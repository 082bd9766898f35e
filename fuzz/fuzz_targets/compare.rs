//! The comparison of two packs: the input is two packs (a little-endian
//! u32 length, then the base, then the head); both are verified at
//! profile `integrity` and, when both pass, compared and rendered. Inputs
//! starting with `S` instead compare two sample lists directly.
#![no_main]

use capsule::compare::{CompareOptions, compare, compare_samples, markdown, markdown_summary};
use capsule::verify::{Profile, VerifyOptions, verify_pack};
use libfuzzer_sys::fuzz_target;

fn samples(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect()
}

fuzz_target!(|data: &[u8]| {
    if let Some(rest) = data.strip_prefix(b"S") {
        let (a, b) = rest.split_at(rest.len() / 2);
        let _ = compare_samples(
            &samples(&a[..a.len().min(8 * 512)]),
            &samples(&b[..b.len().min(8 * 512)]),
            20_000,
            950_000,
        );
        return;
    }
    let Some((len, rest)) = data.split_first_chunk::<4>() else { return };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (base, head) = rest.split_at(len);
    let opts = VerifyOptions { profile: Profile::Integrity, ..VerifyOptions::default() };
    let (rb, cb) = verify_pack(base, &opts);
    let (rh, ch) = verify_pack(head, &opts);
    let (Some(cb), Some(ch), Some(hb), Some(hh)) = (cb, ch, rb.capsule_hash, rh.capsule_hash) else { return };
    for allow_env_mismatch in [false, true] {
        if let Ok(c) = compare(hb, &cb, hh, &ch, CompareOptions { allow_env_mismatch }) {
            let _ = markdown(&c, "base", "head");
            let _ = markdown_summary(std::slice::from_ref(&c));
        }
    }
});
