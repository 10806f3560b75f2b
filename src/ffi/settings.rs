//! A PBX module's own settings (`regwatch.conf`, `regwatch.conf.xml`),
//! read key by key into the engine handle: the module passes what its
//! configuration file says and Rust knows the keys, the defaults and what
//! they mean (see [`HostSettings`](crate::hosts::settings::HostSettings)).
use super::boundary::{opt_str, req_str, try_ffi, write_out};
use super::config::config_status;
use super::engine::{regwatch_engine, with_engine};
use super::log::level_code;
use super::regwatch_status;
use crate::hosts::settings::HostSettings;
use std::ffi::c_char;

/// Starts reading a module's configuration file: every setting goes back
/// to the modules' default (keep-alive on, re-registration on recovery on,
/// `check_timeout` 8 s, no `ca_file`, `log_level` info, no per-trunk
/// keys). Nothing changes in the engine until
/// `regwatch_engine_settings_apply`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_settings_reset(
    engine: *mut regwatch_engine,
) -> regwatch_status {
    with_engine(engine, |h| {
        h.settings = HostSettings::new();
        h.setting_note.clear();
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// One `key = value` of a module's configuration file, with the section
/// it is in: NULL, `""`, `general` (Asterisk) or `settings` (FreeSWITCH)
/// for the module-wide ones, else the name of a trunk. Keys ignore case
/// and `-` equals `_`.
///
/// Module-wide: `check_timeout` (seconds), `ca_file`, `log_level`
/// (`error`, `warning`, `info`, `debug`, `trace`), `reregister_exclude`
/// (comma-separated trunks never re-registered on recovery), and every
/// engine option of `regwatch_engine_set_option` (`keepalive`,
/// `reregister_on_recovery`, `keepalive_interval_ms`...). Per trunk: the
/// trunk keys of `regwatch_trunk_config_set` (`reregister_on_recovery`,
/// `keepalive`, `keepalive_interval`), applied over the PBX's own
/// configuration at the next sync.
///
/// In FreeSWITCH's section (`settings`) names are hyphenated and times
/// in seconds (`keepalive-interval`, `keepalive-timeout`,
/// `keepalive-confirm`, `check-timeout`); a name spelt with `_` or an
/// engine millisecond name (`keepalive_interval_ms`) is still taken, with
/// a deprecation note. See `regwatch_engine_setting_note`.
///
/// `REGWATCH_STATUS_UNKNOWN_KEY` or `REGWATCH_STATUS_INVALID_ARGUMENT`
/// for what cannot be used (the setting keeps its value).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_setting(
    engine: *mut regwatch_engine,
    section: *const c_char,
    key: *const c_char,
    value: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C strings per the contract.
        let section = try_ffi!(unsafe { opt_str(section) });
        let key = try_ffi!(unsafe { req_str(key) });
        let value = try_ffi!(unsafe { opt_str(value) }).unwrap_or("");
        let reading = h.settings.read(section, key, value);
        h.setting_note = reading.note.unwrap_or_default();
        match reading.result {
            Ok(()) => regwatch_status::REGWATCH_STATUS_OK,
            Err(e) => config_status(e),
        }
    })
}

/// Writes the note on the last `regwatch_engine_setting` into `buf`,
/// NUL-terminated, for the host to log as it is: why the value was
/// refused, naming the allowed range ("keepalive-interval = 0: must be
/// seconds between 1 and 600; not applied"), or, for a name FreeSWITCH's
/// style spells otherwise, the one to write instead
/// ("keepalive_interval_ms (milliseconds) is deprecated: write
/// keepalive-interval = 60 (seconds)"). Empty (`""`) when there is nothing
/// to say. `*out_len` gets the size needed (also on
/// `REGWATCH_STATUS_BUFFER_TOO_SMALL`). No secret appears in it.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_setting_note(
    engine: *mut regwatch_engine,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: buffer per the contract.
        unsafe { write_out(&h.setting_note, buf, len, out_len) }
    })
}

/// Applies the settings read since `regwatch_engine_settings_reset`: the
/// engine options, and the log level of the callback installed with
/// `regwatch_engine_set_log_callback`. Per-trunk keys take effect at the
/// next `regwatch_engine_asterisk_commit` / `..._freeswitch_gateways_xml`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_settings_apply(
    engine: *mut regwatch_engine,
) -> regwatch_status {
    with_engine(engine, |h| {
        h.settings.apply(&mut h.engine);
        h.set_log_level(level_code(h.settings.log_level));
        regwatch_status::REGWATCH_STATUS_OK
    })
}
