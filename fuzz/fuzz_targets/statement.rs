//! in-toto statement blobs (v0.1 and v1) and their subject check.
#![no_main]
use libfuzzer_sys::fuzz_target;
use referrify::model::statement::Statement;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Statement::parse(data) {
        let _ =
            s.all_subjects_are("0000000000000000000000000000000000000000000000000000000000000000");
    }
});
