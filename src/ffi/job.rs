//! `regwatch_job`: a blocking check a PBX module runs off the engine's
//! thread, made by the engine with everything it needs (the trunk's
//! configuration or the probe's target, the module's `check_timeout` and
//! `ca_file`), so that the module copies nothing and decides nothing:
//!
//! 1. on the engine's thread: `regwatch_engine_probe_job` (right after a
//!    `REGWATCH_EVENT_TRANSMIT` with `via_driver`: an alternate-transport
//!    OPTIONS, or a credential query, whose request is sent as the engine
//!    built it and whose whole answer goes back to it) or
//!    `regwatch_engine_check_job` (a console `check <trunk>`);
//! 2. on any thread: `regwatch_job_run` (blocks for the exchanges);
//! 3. a probe back on the engine's thread: `regwatch_engine_job_done`;
//!    a check: `regwatch_job_text` for the console;
//! 4. `regwatch_job_free`.
//!
//! A job is not thread-safe: one thread at a time, handed over whole.
use super::boundary::{free_box, put_box, try_ffi, with_handle, write_out, Handle};
use super::check::{options_check, options_of, regwatch_check, trunk_check_of};
use super::engine::{regwatch_engine, with_engine};
use super::observe::probe_status;
use super::regwatch_status;
use crate::core::TrunkConfig;
use crate::driver::Endpoint;
use crate::hosts::render::ProbeRequest;
use std::ffi::c_char;

enum Work {
    /// A keep-alive probe over the driver.
    Probe {
        trunk: String,
        probe_id: u64,
        endpoint: Endpoint,
        domain: String,
        user: String,
        /// An account query (a REGISTER without Contact or credentials),
        /// not an OPTIONS.
        query: bool,
    },
    /// A credential query's request, sent as the engine built it; its
    /// whole answer goes back to the engine.
    Query {
        trunk: String,
        probe: Box<crate::core::Probe>,
    },
    /// The live check of a trunk.
    Check(Box<TrunkConfig>),
}

/// A blocking check a PBX module runs off the engine's thread (a Box),
/// made by the engine with all it needs (the trunk's configuration or the
/// probe's target, the module's `check_timeout` and `ca_file`):
/// 1. on the engine's thread: `regwatch_engine_probe_job` (right after a
///    `REGWATCH_EVENT_TRANSMIT`) or `regwatch_engine_check_job`;
/// 2. on any thread: `regwatch_job_run` (blocks for the exchanges);
/// 3. a probe back on the engine's thread: `regwatch_engine_job_done`; a
///    check: `regwatch_job_text` for the console;
/// 4. `regwatch_job_free`.
///
/// Not thread-safe: one thread at a time, handed over whole.
pub struct regwatch_job {
    work: Work,
    timeout_ms: u32,
    ca_file: Option<String>,
    result: Option<regwatch_check>,
    /// What became of a credential query's request.
    answer: Option<crate::driver::ProbeAnswer>,
    poisoned: bool,
}

impl Handle for regwatch_job {
    fn poisoned(&self) -> bool {
        self.poisoned
    }
    fn poison(&mut self) {
        self.poisoned = true;
    }
}

/// Makes the job for the probe of the last `REGWATCH_EVENT_TRANSMIT`
/// polled from this engine, `probe_id` (its `transmit.probe_id`):
/// `REGWATCH_STATUS_NOT_FOUND` when the last polled event was not that
/// probe. On OK, `*out` owns the job. The job may wait in the host's
/// queue: it gets the probe's whole timeout from when `regwatch_job_run`
/// sends, and the engine awaits its `regwatch_engine_job_done` for that
/// timeout plus 30 s from now before it counts the probe as lost.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_probe_job(
    engine: *mut regwatch_engine,
    probe_id: u64,
    out: *mut *mut regwatch_job,
) -> regwatch_status {
    with_engine(engine, |h| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        let Some(p) = h.last_transmit.as_ref().filter(|p| p.id == probe_id) else {
            return regwatch_status::REGWATCH_STATUS_NOT_FOUND;
        };
        let now = h.engine.now_ms();
        let mut req = ProbeRequest::of(p, now);
        // The job may wait in the host's queue: it gets the probe's whole
        // timeout from when it sends, and the engine waits for its result
        // (crate::core::JOB_QUEUE_GRACE_MS), so a busy prober thread is
        // not taken for a registrar that does not answer.
        let timeout = p.deadline_ms.saturating_sub(p.at_ms).max(1);
        req.timeout_ms = u32::try_from(timeout).unwrap_or(u32::MAX);
        let until = now
            .saturating_add(timeout)
            .saturating_add(crate::core::JOB_QUEUE_GRACE_MS);
        let (trunk_id, pid) = (p.trunk, p.id);
        // Ok(false): answered already; the job's result will be ignored.
        let _ = h.engine.defer_probe_deadline(trunk_id, pid, until);
        let Some(p) = h.last_transmit.as_ref() else {
            return regwatch_status::REGWATCH_STATUS_NOT_FOUND;
        };
        if p.purpose == crate::core::ProbePurpose::CredentialQuery {
            let job = regwatch_job {
                work: Work::Query {
                    trunk: p.target.name.to_string(),
                    probe: Box::new(p.clone()),
                },
                timeout_ms: req.timeout_ms,
                ca_file: h.settings.ca_file.clone(),
                result: None,
                answer: None,
                poisoned: false,
            };
            // SAFETY: `out` is valid for one write per the contract.
            return unsafe { put_box(out, job) };
        }
        let job = regwatch_job {
            work: Work::Probe {
                trunk: p.target.name.to_string(),
                probe_id,
                endpoint: Endpoint {
                    host: p.target.host.clone(),
                    port: p.port,
                    transport: p.transport,
                },
                domain: req.domain,
                user: req.user,
                query: p.purpose == crate::core::ProbePurpose::AccountQuery,
            },
            timeout_ms: req.timeout_ms,
            ca_file: h.settings.ca_file.clone(),
            result: None,
            answer: None,
            poisoned: false,
        };
        // SAFETY: `out` is valid for one write per the contract.
        unsafe { put_box(out, job) }
    })
}

/// Makes the job for the live check of trunk `trunk` (as a console's
/// `check` runs it: OPTIONS and a test REGISTER with its credentials,
/// ended with Expires: 0), with the module's `check_timeout` and
/// `ca_file`. `REGWATCH_STATUS_NOT_FOUND` for an unknown trunk. On OK,
/// `*out` owns the job (credentials included: free it).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_check_job(
    engine: *mut regwatch_engine,
    trunk: *const c_char,
    out: *mut *mut regwatch_job,
) -> regwatch_status {
    with_engine(engine, |h| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        let id = try_ffi!(super::engine::trunk_id(h, trunk));
        let Some(cfg) = h.engine.trunk_config(id) else {
            return regwatch_status::REGWATCH_STATUS_NOT_FOUND;
        };
        let job = regwatch_job {
            work: Work::Check(Box::new(cfg.clone())),
            timeout_ms: h.settings.check_timeout_ms,
            ca_file: h.settings.ca_file.clone(),
            result: None,
            answer: None,
            poisoned: false,
        };
        // SAFETY: `out` is valid for one write per the contract.
        unsafe { put_box(out, job) }
    })
}

/// Runs the job (blocks for DNS and the exchanges, each within the job's
/// timeout). `REGWATCH_STATUS_IO` when the `ca_file` cannot be used
/// (nothing is checked). Any thread, one at a time.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_job_run(job: *mut regwatch_job) -> regwatch_status {
    with_handle(job, |j| {
        let opts = try_ffi!(options_of(j.timeout_ms, j.ca_file.as_deref()));
        if let Work::Query { probe, .. } = &j.work {
            j.answer = Some(crate::driver::send_probe(probe, &opts));
            return regwatch_status::REGWATCH_STATUS_OK;
        }
        j.result = Some(match &j.work {
            Work::Probe {
                endpoint,
                domain,
                user,
                query,
                ..
            } => options_check(endpoint, domain, user, *query, &opts),
            Work::Check(cfg) => trunk_check_of(cfg, &opts),
            Work::Query { .. } => return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
        });
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Writes the console text of a job that ran (several lines, each ending
/// in `\n`); `REGWATCH_STATUS_INVALID_ARGUMENT` before it ran. Output as
/// for `regwatch_engine_trunk_json`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_job_text(
    job: *mut regwatch_job,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_handle(job, |j| match &j.result {
        // SAFETY: buffer per the contract.
        Some(r) => unsafe { write_out(r.text(), buf, len, out_len) },
        None => regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
    })
}

/// A probe job that ran, back on the engine's thread: its result goes to
/// the engine as `regwatch_engine_probe_result` would give it. OK when
/// the probe was awaited, `REGWATCH_STATUS_DONE` when no longer,
/// `REGWATCH_STATUS_NOT_FOUND` when the trunk is gone,
/// `REGWATCH_STATUS_INVALID_ARGUMENT` for a check job or one that did not
/// run. The job stays the caller's to free.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_job_done(
    engine: *mut regwatch_engine,
    now_ms: u64,
    job: *mut regwatch_job,
) -> regwatch_status {
    let mut done = None;
    let mut answered = None;
    try_ffi!(match with_handle(job, |j| {
        if let (Work::Query { trunk, probe }, Some(a)) = (&j.work, &j.answer) {
            answered = Some((trunk.clone(), probe.id, a.clone()));
        }
        if let (
            Work::Probe {
                trunk, probe_id, ..
            },
            Some(r),
        ) = (&j.work, &j.result)
        {
            done = r.probe().map(|p| (trunk.clone(), *probe_id, p));
        }
        regwatch_status::REGWATCH_STATUS_OK
    }) {
        regwatch_status::REGWATCH_STATUS_OK => Ok(()),
        s => Err(s),
    });
    if let Some((trunk, probe_id, a)) = answered {
        return with_engine(engine, |h| {
            let Some(id) = h.engine.find_trunk(&trunk) else {
                return regwatch_status::REGWATCH_STATUS_NOT_FOUND;
            };
            let parsed = a.response.as_deref().map(crate::sip::parse);
            probe_status(match parsed {
                Some(Ok(m)) => h
                    .engine
                    .handle_probe_response(now_ms, id, probe_id, &m, a.rtt_us),
                _ => h
                    .engine
                    .handle_probe_result(now_ms, id, probe_id, a.result, a.rtt_us),
            })
        });
    }
    let Some((trunk, probe_id, (result, rtt))) = done else {
        return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT;
    };
    with_engine(engine, |h| {
        let Some(id) = h.engine.find_trunk(&trunk) else {
            return regwatch_status::REGWATCH_STATUS_NOT_FOUND;
        };
        probe_status(
            h.engine
                .handle_probe_result(now_ms, id, probe_id, result, rtt),
        )
    })
}

/// Frees a job. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn regwatch_job_free(job: *mut regwatch_job) {
    // SAFETY: NULL or made by put_box in this module, freed once.
    unsafe { free_box(job) };
}
