//! What a PBX module keeps across its own unload and load: the engine's
//! per-trunk causes as text (`regwatch_engine_carry_text`), stored by the
//! module in the PBX (Asterisk's astdb, a FreeSWITCH global variable) and
//! given to the next engine (`regwatch_engine_carry_apply`) after the
//! PBX's own view of the registrations.
use super::boundary::{req_str, try_ffi, write_out};
use super::engine::{regwatch_engine, with_engine};
use super::regwatch_status;
use std::ffi::c_char;

/// Writes every trunk's known state, cause and binding times as text (one
/// line per trunk; no secret) into `buf`, NUL-terminated; `*out_len` gets
/// the size needed (also on `REGWATCH_STATUS_BUFFER_TOO_SMALL`).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_carry_text(
    engine: *mut regwatch_engine,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        let s = h.engine.carry_out();
        // SAFETY: buffer per the contract.
        unsafe { write_out(&s, buf, len, out_len) }
    })
}

/// Gives the engine what `regwatch_engine_carry_text` wrote before a
/// module reload: trunks in the carried state (as the PBX's view, fed
/// first, shows them, or still unknown) take the carried cause and
/// binding times; the rest is skipped. `*taken` (may be NULL) gets how
/// many trunks took theirs. At most 16 MiB is read.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_carry_apply(
    engine: *mut regwatch_engine,
    now_ms: u64,
    text: *const c_char,
    taken: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let text = try_ffi!(unsafe { req_str(text) });
        let n = h.engine.carry_in(now_ms, text);
        if !taken.is_null() {
            // SAFETY: non-NULL, writable per the contract.
            unsafe { taken.write(n) };
        }
        regwatch_status::REGWATCH_STATUS_OK
    })
}
