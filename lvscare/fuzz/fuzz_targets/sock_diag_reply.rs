//! Fuzzes the decoding of sock_diag answers (to `SOCK_DESTROY` and the support check): never a
//! panic, and a refusal always carries a positive errno.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvscare::fuzzing::{sock_diag_answer, SockDiagAnswer};
use lvscare_fuzz::first_seq;

fuzz_target!(|data: &[u8]| {
    for seq in [first_seq(data), first_seq(data).wrapping_add(1)] {
        if let Ok(Some(SockDiagAnswer::Refused(errno))) = sock_diag_answer(data, seq) {
            assert!(errno > 0, "errno {errno}");
        }
    }
});
