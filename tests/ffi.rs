//! The C ABI called from Rust: misuse, buffers, poisoning.
use regwatch::ffi::regwatch_status::{self, *};
use regwatch::ffi::status::regwatch_status_str;
use regwatch::ffi::*;
use std::ffi::{c_char, CStr, CString};
use std::ptr;

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn new_engine() -> *mut regwatch_engine {
    let mut e = ptr::null_mut();
    assert_eq!(
        unsafe { regwatch_engine_new(0, 1, &mut e) },
        REGWATCH_STATUS_OK
    );
    e
}

fn add(e: *mut regwatch_engine, name: &str) {
    let mut cfg = ptr::null_mut();
    unsafe {
        assert_eq!(regwatch_trunk_config_new(&mut cfg), REGWATCH_STATUS_OK);
        for (k, v) in [
            ("name", name),
            ("domain", "acme.sip.twilio.com"),
            ("username", "office"),
            ("password", "Str0ngPassw0rdX"),
        ] {
            assert_eq!(
                regwatch_trunk_config_set(cfg, c(k).as_ptr(), c(v).as_ptr()),
                REGWATCH_STATUS_OK
            );
        }
        assert_eq!(regwatch_engine_add_trunk(e, 0, cfg), REGWATCH_STATUS_OK);
        regwatch_trunk_config_free(cfg);
    }
}

#[test]
fn status_strings_are_static_and_total() {
    for v in [
        0u32,
        1,
        100,
        101,
        102,
        103,
        104,
        105,
        106,
        900,
        901,
        7,
        0xffff_ffff,
    ] {
        let s = unsafe { CStr::from_ptr(regwatch_status_str(v)) };
        assert!(!s.to_bytes().is_empty());
    }
}

#[test]
fn buffer_protocol() {
    let d = c("https://acme.sip.twillio.com");
    let mut needed = 0usize;
    let st = unsafe {
        regwatch_validate_domain(d.as_ptr(), ptr::null(), ptr::null_mut(), 0, &mut needed)
    };
    assert_eq!(st, REGWATCH_STATUS_BUFFER_TOO_SMALL);
    let mut buf = vec![0x55 as c_char; needed - 1];
    let mut again = 0usize;
    let st = unsafe {
        regwatch_validate_domain(
            d.as_ptr(),
            ptr::null(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut again,
        )
    };
    assert_eq!(st, REGWATCH_STATUS_BUFFER_TOO_SMALL);
    assert_eq!(again, needed);
    assert!(buf.iter().all(|b| *b == 0x55), "nothing written on failure");
    let mut buf = vec![0 as c_char; needed];
    let st = unsafe {
        regwatch_validate_domain(
            d.as_ptr(),
            ptr::null(),
            buf.as_mut_ptr(),
            buf.len(),
            ptr::null_mut(),
        )
    };
    assert_eq!(st, REGWATCH_STATUS_OK);
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
    assert_eq!(s.len() + 1, needed);
    let v: serde_json::Value = serde_json::from_str(s).unwrap();
    assert!(v.is_array());
}

#[test]
fn invalid_utf8_everywhere() {
    let bad = [b'a', 0xff, 0].as_ptr().cast::<c_char>();
    let mut n = 0;
    let mut buf = [0 as c_char; 256];
    unsafe {
        assert_eq!(
            regwatch_validate_domain(bad, ptr::null(), buf.as_mut_ptr(), 256, &mut n),
            REGWATCH_STATUS_INVALID_UTF8
        );
        let e = new_engine();
        add(e, "t");
        assert_eq!(
            regwatch_engine_register_sent(e, 0, bad, 60, false, 0),
            REGWATCH_STATUS_INVALID_UTF8
        );
        let mut cfg = ptr::null_mut();
        assert_eq!(regwatch_trunk_config_new(&mut cfg), REGWATCH_STATUS_OK);
        assert_eq!(
            regwatch_trunk_config_set(cfg, c("domain").as_ptr(), bad),
            REGWATCH_STATUS_INVALID_UTF8
        );
        assert_eq!(
            regwatch_trunk_config_set(cfg, bad, bad),
            REGWATCH_STATUS_INVALID_UTF8
        );
        regwatch_trunk_config_free(cfg);
        regwatch_engine_free(e);
    }
}

#[test]
fn a_panic_poisons_the_handle_and_nothing_crosses() {
    let e = new_engine();
    add(e, "t");
    let st = test_with_engine(e, |_| panic!("simulated bug"));
    assert_eq!(st, REGWATCH_STATUS_PANIC);
    unsafe {
        let mut at = 0u64;
        assert_eq!(
            regwatch_engine_poll_timeout(e, &mut at),
            REGWATCH_STATUS_POISONED
        );
        assert_eq!(
            regwatch_engine_register_sent(e, 0, c("t").as_ptr(), 60, false, 0),
            REGWATCH_STATUS_POISONED
        );
        // Only _free is allowed, and works.
        regwatch_engine_free(e);
    }
}

#[test]
fn events_carry_borrowed_strings_until_next_call() {
    let e = new_engine();
    add(e, "office");
    unsafe {
        let mut r = std::mem::MaybeUninit::<regwatch_register_response>::uninit();
        regwatch_register_response_init(r.as_mut_ptr());
        let mut r = r.assume_init();
        r.code = 404;
        let reason = c("Not Found");
        r.reason = reason.as_ptr();
        assert_eq!(
            regwatch_engine_register_response(e, 5, c("office").as_ptr(), &r),
            REGWATCH_STATUS_OK
        );
        let mut kinds = Vec::new();
        loop {
            let mut ev = std::mem::MaybeUninit::<regwatch_event>::uninit();
            regwatch_event_init(ev.as_mut_ptr());
            let st: regwatch_status = regwatch_engine_poll_event(e, ev.as_mut_ptr());
            if st == REGWATCH_STATUS_DONE {
                break;
            }
            assert_eq!(st, REGWATCH_STATUS_OK);
            let ev = ev.assume_init();
            let json = CStr::from_ptr(ev.json).to_str().unwrap();
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(CStr::from_ptr(ev.trunk).to_str().unwrap(), "office");
            assert!(!CStr::from_ptr(ev.summary).to_bytes().is_empty());
            if ev.kind == REGWATCH_EVENT_ALERT_RAISED {
                assert_eq!(ev.cause, REGWATCH_CAUSE_DOMAIN_NOT_FOUND);
                assert_eq!(
                    CStr::from_ptr(regwatch_cause_str(ev.cause))
                        .to_str()
                        .unwrap(),
                    "domain_not_found"
                );
                assert_eq!(ev.severity, REGWATCH_SEVERITY_ERROR);
                assert_eq!(ev.state, REGWATCH_STATE_REJECTED);
                assert_eq!(ev.code, 404);
                assert_eq!(v["cause"], "domain_not_found");
            }
            kinds.push(ev.kind);
        }
        assert!(kinds.contains(&REGWATCH_EVENT_STATE_CHANGED));
        assert!(kinds.contains(&REGWATCH_EVENT_ALERT_RAISED));
        // An event smaller than this library's is refused, not overrun.
        let mut small = std::mem::MaybeUninit::<regwatch_event>::uninit();
        regwatch_event_init(small.as_mut_ptr());
        (*small.as_mut_ptr()).struct_size = 8;
        assert_eq!(
            regwatch_engine_poll_event(e, small.as_mut_ptr()),
            REGWATCH_STATUS_INVALID_ARGUMENT
        );
        regwatch_engine_free(e);
    }
}

#[test]
fn engine_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<regwatch::Engine>();
}
