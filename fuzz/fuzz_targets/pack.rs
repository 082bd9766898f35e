//! The container reader: any bytes, read under the default caps. Every
//! member is drained, so gzip and tar integrity are exercised to the end.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = capsule::pack::Limits { max_member_bytes: 1 << 24, max_total_bytes: 1 << 26, max_members: 1000 };
    let _ = capsule::pack::read_members::<_, capsule::pack::PackError, _>(data, &limits, |m| {
        m.read_all()?;
        Ok(())
    });
});
