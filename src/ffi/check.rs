//! `regwatch_check`: the driver's one-shot checks (OPTIONS, test
//! REGISTER, the live check of a trunk). Blocking and thread-safe.
use super::boundary::{free_box, guard, opt_str, put_box, req_str, try_ffi, with_ref, write_out};
use super::config::regwatch_trunk_config;
use super::engine::{regwatch_engine, trunk_id, with_engine};
use super::enums::regwatch_transport;
use super::observe::probe_status;
use super::regwatch_status;
use crate::core::ProbeResult;
use crate::driver::{
    account_query, options, query_register, test_register, trunk_check, CheckOptions, Endpoint,
    TrunkCheck,
};
use crate::validate::Transport;
use std::ffi::{c_char, CString};
use std::time::Duration;

/// The result of a one-shot check: read it with `regwatch_check_json` and
/// `regwatch_check_cause`, free it with `regwatch_check_free`. Immutable;
/// may be read from any thread.
pub struct regwatch_check {
    json: String,
    text: String,
    cause: CString,
    /// OPTIONS checks: the probe result and its round trip (µs).
    probe: Option<(ProbeResult, Option<u64>)>,
}

/// # Safety
/// As for the exports that call it.
unsafe fn check_options(
    timeout_ms: u32,
    ca_file: *const c_char,
) -> Result<CheckOptions, regwatch_status> {
    // SAFETY: NULL or NUL-terminated per the contract.
    let ca = unsafe { opt_str(ca_file) }?;
    options_of(timeout_ms, ca)
}

/// The options of a check: `timeout_ms` (0: the driver's default) and a
/// CA file that must be usable (`REGWATCH_STATUS_IO` otherwise).
pub(crate) fn options_of(
    timeout_ms: u32,
    ca: Option<&str>,
) -> Result<CheckOptions, regwatch_status> {
    let mut o = CheckOptions::default();
    if timeout_ms > 0 {
        o.timeout = Duration::from_millis(u64::from(timeout_ms));
    }
    o.ca_file = ca.map(Into::into);
    o.check_ca_file()
        .map_err(|_| regwatch_status::REGWATCH_STATUS_IO)?;
    Ok(o)
}

fn finish(c: regwatch_check, out: *mut *mut regwatch_check) -> regwatch_status {
    // SAFETY: `out` is valid for one write per the contract.
    unsafe { put_box(out, c) }
}

fn made(
    json: String,
    text: String,
    cause: &str,
    probe: Option<(ProbeResult, Option<u64>)>,
) -> regwatch_check {
    regwatch_check {
        json,
        text,
        cause: CString::new(cause).unwrap_or_default(),
        probe,
    }
}

/// One OPTIONS, as `regwatch_check_options` runs it.
pub(crate) fn options_check(
    ep: &Endpoint,
    domain: &str,
    user: &str,
    query: bool,
    opts: &CheckOptions,
) -> regwatch_check {
    let (o, what) = if query {
        (account_query(ep, domain, user, opts), "query REGISTER")
    } else {
        (options(ep, domain, user, opts), "OPTIONS")
    };
    let cause = if o.result.class().reachable() {
        "healthy"
    } else {
        o.result.cause().map_or("unknown", |c| c.as_str())
    };
    let json = serde_json::to_string(&o).unwrap_or_else(|_| "{}".to_owned());
    let text = format!("{what} to {}: {}\n", o.endpoint, o.summary());
    let probe = Some((o.result, o.rtt_ms.map(|ms| (ms * 1000.0) as u64)));
    made(json, text, cause, probe)
}

/// The live check of a trunk, as `regwatch_check_trunk` runs it.
pub(crate) fn trunk_check_of(
    cfg: &crate::core::TrunkConfig,
    opts: &CheckOptions,
) -> regwatch_check {
    let c = trunk_check(cfg, opts);
    let json = serde_json::to_string(&c).unwrap_or_else(|_| "{}".to_owned());
    made(json, c.text(), c.diagnosis.cause.as_str(), None)
}

impl regwatch_check {
    /// The console text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// An OPTIONS check's probe result and round trip (µs).
    pub(crate) fn probe(&self) -> Option<(ProbeResult, Option<u64>)> {
        self.probe
    }
}

/// One OPTIONS to `host`:`port` over `transport`, for `domain` (Request-URI
/// and, over TLS, the name the certificate must carry) as `user`. Blocks
/// until the answer or `timeout_ms` (0: 8 s; connect, TLS handshake,
/// request and answer all within it). `ca_file` (may be NULL): PEM CAs to
/// trust for TLS instead of the system's store; one that cannot be used
/// (missing, unreadable, no certificate in it) returns
/// `REGWATCH_STATUS_IO` and checks nothing. On OK, `*out` is a
/// new check whose JSON is `{"endpoint","result":{"result":"response","code":200},
/// "reason","server","rtt_ms","error"}` and whose cause is `healthy` for an
/// answer, else the network cause. Thread-safe.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_options(
    host: *const c_char,
    port: u16,
    transport: regwatch_transport,
    domain: *const c_char,
    user: *const c_char,
    timeout_ms: u32,
    ca_file: *const c_char,
    out: *mut *mut regwatch_check,
) -> regwatch_status {
    guard(|| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: C strings per the contract.
        let (host, domain, user) = unsafe {
            (
                try_ffi!(req_str(host)),
                try_ffi!(req_str(domain)),
                try_ffi!(req_str(user)),
            )
        };
        let transport = try_ffi!(Transport::try_from(transport));
        // SAFETY: as above.
        let opts = try_ffi!(unsafe { check_options(timeout_ms, ca_file) });
        let ep = Endpoint {
            host: host.to_owned(),
            port,
            transport,
        };
        finish(options_check(&ep, domain, user, false, &opts), out)
    })
}

/// Keep-alive: reports the OPTIONS check `check` (from
/// `regwatch_check_options`, run by the host for a
/// `REGWATCH_EVENT_TRANSMIT`, typically an alternative transport the PBX
/// itself does not speak) as the result of probe `probe_id` of `trunk`,
/// as `regwatch_engine_probe_result` would. `INVALID_ARGUMENT` for a check
/// that is not an OPTIONS check; `DONE` for a probe no longer awaited.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_probe_check(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    probe_id: u64,
    check: *const regwatch_check,
) -> regwatch_status {
    let mut probe = None;
    try_ffi!(match with_ref(check, |c| {
        probe = c.probe;
        regwatch_status::REGWATCH_STATUS_OK
    }) {
        regwatch_status::REGWATCH_STATUS_OK => Ok(()),
        s => Err(s),
    });
    with_engine(engine, |h| {
        let Some((result, rtt)) = probe else {
            return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT;
        };
        let id = try_ffi!(trunk_id(h, trunk));
        probe_status(
            h.engine
                .handle_probe_result(now_ms, id, probe_id, result, rtt),
        )
    })
}

/// The test REGISTER for `config` against `host`:`port` over `transport`
/// (the registrar, or the outbound proxy): REGISTER, the digest answer to a
/// 401/407, one retry with Min-Expires after a 423, then Expires: 0 unless
/// `stay_registered`. Blocks for the exchange (each request, with its
/// connect and TLS handshake, waits at most `timeout_ms`, 0: 8 s). An
/// unusable `ca_file`: `REGWATCH_STATUS_IO`, as for
/// `regwatch_check_options`. On OK, `*out` is a new check whose JSON is
/// `{"endpoint","steps":[{"request","code","reason","rtt_ms","note"}],
/// "mode":"register","contact","state","cause","granted_expires",
/// "raised_expires","contact_bound","bindings":[{"uri","expires","ours"}],
/// "bindings_after":[...],"deregistered","diagnosis":{...}}`; never a
/// password. Every request goes out from one socket (or connection) with
/// one Contact and one Call-ID, so `Expires: 0` removes exactly the test
/// binding; `deregistered` is true only when the registrar's 200 to it no
/// longer lists that Contact. Thread-safe (`config` is only read).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_register(
    config: *const regwatch_trunk_config,
    host: *const c_char,
    port: u16,
    transport: regwatch_transport,
    timeout_ms: u32,
    ca_file: *const c_char,
    stay_registered: bool,
    out: *mut *mut regwatch_check,
) -> regwatch_status {
    // SAFETY: the caller's pointers, per the contract.
    unsafe {
        register_flow(
            config,
            host,
            port,
            transport,
            timeout_ms,
            ca_file,
            Some(stay_registered),
            out,
        )
    }
}

/// The test REGISTER (`stay`: Some) or the query REGISTER (None), as the
/// two exports run them.
///
/// # Safety
/// As for those exports.
#[allow(clippy::too_many_arguments)]
unsafe fn register_flow(
    config: *const regwatch_trunk_config,
    host: *const c_char,
    port: u16,
    transport: regwatch_transport,
    timeout_ms: u32,
    ca_file: *const c_char,
    stay: Option<bool>,
    out: *mut *mut regwatch_check,
) -> regwatch_status {
    guard(|| {
        if out.is_null() || config.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: a live config per the contract, only read here.
        let cfg = unsafe { &(*config).inner };
        // SAFETY: C string per the contract.
        let host = try_ffi!(unsafe { req_str(host) });
        let transport = try_ffi!(Transport::try_from(transport));
        // SAFETY: as above.
        let mut opts = try_ffi!(unsafe { check_options(timeout_ms, ca_file) });
        let ep = Endpoint {
            host: host.to_owned(),
            port,
            transport,
        };
        let c = match stay {
            Some(stay) => {
                opts.stay_registered = stay;
                test_register(cfg, &ep, &opts)
            }
            None => query_register(cfg, &ep, &opts),
        };
        let json = serde_json::to_string(&c).unwrap_or_else(|_| "{}".to_owned());
        let text = TrunkCheck {
            trunk: cfg.name.to_string(),
            endpoint: Some(ep.to_string()),
            dns_error: None,
            options: None,
            diagnosis: c.diagnosis.clone(),
            register: Some(c.clone()),
        }
        .text();
        finish(made(json, text, c.cause.as_str(), None), out)
    })
}

/// The query REGISTER for `config` against `host`:`port` over
/// `transport`: a REGISTER without Contact (RFC 3261 §10.2.3) whose
/// challenge is answered with the trunk's credentials. It proves them and
/// lists the bindings the registrar holds for the AOR, adding, changing
/// and removing none. Blocks as `regwatch_check_register` does. On OK,
/// `*out` is a new check whose JSON is that of `regwatch_check_register`
/// with `"mode":"query"`, no `contact`, and `bindings` the registrar's
/// list; its cause is `healthy` when the credentials were accepted, else
/// the engine's (`credentials_rejected`, `domain_not_found`, ...); a
/// registrar that refuses queries says so in the last step's note. Never
/// a password. Thread-safe.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_query(
    config: *const regwatch_trunk_config,
    host: *const c_char,
    port: u16,
    transport: regwatch_transport,
    timeout_ms: u32,
    ca_file: *const c_char,
    out: *mut *mut regwatch_check,
) -> regwatch_status {
    // SAFETY: the caller's pointers, per the contract.
    unsafe {
        register_flow(
            config, host, port, transport, timeout_ms, ca_file, None, out,
        )
    }
}

/// The live check of a configured trunk, as a console's `check` command
/// runs it: where its requests go (RFC 3263, or its proxy), one OPTIONS
/// there, and the test REGISTER with its credentials (ended with
/// Expires: 0), summed up in one diagnosis. Blocks for DNS and the
/// exchanges (each request, with its connect and TLS handshake, waits at
/// most `timeout_ms`, 0: 8 s). An unusable `ca_file`:
/// `REGWATCH_STATUS_IO`, as for `regwatch_check_options`. On OK,
/// `*out` is a new check: JSON `{"trunk","endpoint","dns_error","options",
/// "register","diagnosis"}`, console text from `regwatch_check_text`, never
/// a password. Thread-safe (`config` is only read).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_trunk(
    config: *const regwatch_trunk_config,
    timeout_ms: u32,
    ca_file: *const c_char,
    out: *mut *mut regwatch_check,
) -> regwatch_status {
    guard(|| {
        if out.is_null() || config.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: a live config per the contract, only read here.
        let cfg = unsafe { &(*config).inner };
        // SAFETY: C string per the contract.
        let opts = try_ffi!(unsafe { check_options(timeout_ms, ca_file) });
        finish(trunk_check_of(cfg, &opts), out)
    })
}

/// Writes the check as console text (several lines, each ending in `\n`)
/// into `buf`; `*out_len` gets the size needed (also on
/// `REGWATCH_STATUS_BUFFER_TOO_SMALL`).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_text(
    check: *const regwatch_check,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    // SAFETY: per the contract of this export.
    unsafe { write_check(check, |c| &c.text, buf, len, out_len) }
}

/// Writes one text of a check into a caller's buffer.
///
/// # Safety
/// `check` is NULL or a live check; `buf`/`len`/`out_len` as for
/// `write_out`.
unsafe fn write_check(
    check: *const regwatch_check,
    field: fn(&regwatch_check) -> &String,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    // SAFETY: buffers per the contract.
    with_ref(check, |c| unsafe { write_out(field(c), buf, len, out_len) })
}

/// Writes the check's JSON into `buf` (NUL-terminated); `*out_len` gets
/// the size needed (also on `REGWATCH_STATUS_BUFFER_TOO_SMALL`).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_json(
    check: *const regwatch_check,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    // SAFETY: per the contract of this export.
    unsafe { write_check(check, |c| &c.json, buf, len, out_len) }
}

/// The check's cause id (`healthy`, `credentials_rejected`, ...), valid
/// until the check is freed; "" for NULL.
#[no_mangle]
pub unsafe extern "C" fn regwatch_check_cause(check: *const regwatch_check) -> *const c_char {
    if check.is_null() {
        return c"".as_ptr();
    }
    // SAFETY: a live check per the contract.
    unsafe { (*check).cause.as_ptr() }
}

/// Frees a check. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn regwatch_check_free(check: *mut regwatch_check) {
    // SAFETY: NULL or made by put_box in this module, freed once.
    unsafe { free_box(check) };
}
