//! The credential query through the C ABI, as a PBX module runs it: the
//! engine asks for a `REGWATCH_PURPOSE_CREDENTIAL_QUERY` transmit
//! (`via_driver`), the host makes it a job (`regwatch_engine_probe_job`),
//! runs it off the engine's thread (`regwatch_job_run`) and hands it back
//! (`regwatch_engine_job_done`): the challenge answered in a second
//! transmit, a wrong password alerts `credentials_rejected`, a right one
//! stays quiet. Against the project's Kamailio.
mod support;

use regwatch::ffi::regwatch_status::*;
use regwatch::ffi::*;
use std::ffi::{CStr, CString};
use std::ptr;
use std::time::Instant;
use support::registrar::{self, Registrar, DOMAIN, USERS};

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn trunk(name: &str, user: &str, password: &str, port: u16) -> *mut regwatch_trunk_config {
    let mut t = ptr::null_mut();
    assert_eq!(
        unsafe { regwatch_trunk_config_new(&mut t) },
        REGWATCH_STATUS_OK
    );
    let proxy = format!("127.0.0.1:{port}");
    for (k, v) in [
        ("name", name),
        ("domain", DOMAIN),
        ("username", user),
        ("password", password),
        ("proxy", proxy.as_str()),
        ("transport", "udp"),
    ] {
        assert_eq!(
            unsafe { regwatch_trunk_config_set(t, c(k).as_ptr(), c(v).as_ptr()) },
            REGWATCH_STATUS_OK,
            "{k}"
        );
    }
    t
}

/// Runs the engine for `secs` of real time: every transmit made a job,
/// run at once and handed back. Returns (alerts raised as (trunk, cause),
/// credential-query transmits per trunk).
fn run(e: *mut regwatch_engine, secs: u64) -> (Vec<(String, String)>, Vec<String>) {
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    let (mut alerts, mut queries) = (Vec::new(), Vec::new());
    while start.elapsed().as_secs() < secs {
        let t = now();
        assert_eq!(
            unsafe { regwatch_engine_handle_timeout(e, t) },
            REGWATCH_STATUS_OK
        );
        loop {
            let mut ev = std::mem::MaybeUninit::<regwatch_event>::uninit();
            unsafe { regwatch_event_init(ev.as_mut_ptr()) };
            if unsafe { regwatch_engine_poll_event(e, ev.as_mut_ptr()) } != REGWATCH_STATUS_OK {
                break;
            }
            let ev = unsafe { ev.assume_init() };
            let name = unsafe { CStr::from_ptr(ev.trunk) }
                .to_str()
                .unwrap()
                .to_owned();
            if ev.kind == REGWATCH_EVENT_ALERT_RAISED {
                let cause = unsafe { CStr::from_ptr(regwatch_cause_str(ev.cause)) };
                alerts.push((name.clone(), cause.to_str().unwrap().to_owned()));
            }
            if ev.kind != REGWATCH_EVENT_TRANSMIT {
                continue;
            }
            if ev.transmit.purpose == REGWATCH_PURPOSE_CREDENTIAL_QUERY {
                assert!(ev.transmit.via_driver, "a query goes with the driver");
                queries.push(name);
            }
            let mut job = ptr::null_mut();
            assert_eq!(
                unsafe { regwatch_engine_probe_job(e, ev.transmit.probe_id, &mut job) },
                REGWATCH_STATUS_OK
            );
            assert_eq!(unsafe { regwatch_job_run(job) }, REGWATCH_STATUS_OK);
            let st = unsafe { regwatch_engine_job_done(e, now(), job) };
            assert_eq!(st, REGWATCH_STATUS_OK);
            unsafe { regwatch_job_free(job) };
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (alerts, queries)
}

#[test]
fn a_credential_query_runs_as_a_job_and_finds_the_wrong_password() {
    if !registrar::available() {
        return;
    }
    let reg = Registrar::start(false);
    let mut e = ptr::null_mut();
    assert_eq!(
        unsafe { regwatch_engine_new(0, 7, &mut e) },
        REGWATCH_STATUS_OK
    );
    for (k, v) in [("keepalive", "on"), ("register_interval", "5")] {
        assert_eq!(
            unsafe { regwatch_engine_set_option(e, c(k).as_ptr(), c(v).as_ptr()) },
            REGWATCH_STATUS_OK
        );
    }
    let (user, password) = USERS[0];
    let good = trunk("good", user, password, reg.port);
    let bad = trunk("bad", user, "Wrong-Passw0rd-9", reg.port);
    for t in [good, bad] {
        assert_eq!(
            unsafe { regwatch_engine_add_trunk(e, 0, t) },
            REGWATCH_STATUS_OK
        );
        unsafe { regwatch_trunk_config_free(t) };
    }
    let (alerts, queries) = run(e, 3);
    assert_eq!(
        alerts,
        vec![("bad".to_owned(), "credentials_rejected".to_owned())]
    );
    // Each trunk's query: the REGISTER, then the one answering the 407.
    for t in ["good", "bad"] {
        let n = queries.iter().filter(|q| *q == t).count();
        assert_eq!(n, 2, "{t}: {queries:?}");
    }
    let (mut st, mut cause) = (ptr::null(), ptr::null());
    assert_eq!(
        unsafe { regwatch_engine_trunk_state(e, c("good").as_ptr(), &mut st, &mut cause) },
        REGWATCH_STATUS_OK
    );
    assert_eq!(
        unsafe { CStr::from_ptr(cause) }.to_str().unwrap(),
        "unknown"
    );
    let log = reg.log();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("REGISTER from") && l.contains("credentials: yes"))
            .count(),
        2,
        "{log}"
    );
    unsafe { regwatch_engine_free(e) };
}
