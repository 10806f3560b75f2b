//! RFC 3263 server location against a real DNS server (dnsmasq on
//! loopback) pointing at the project's Kamailio: SRV per transport, NAPTR
//! order, A/AAAA when a port is given, and the name that failed when one
//! does not resolve; then the checks and the keep-alive runner finding the
//! registrar through SRV alone.
mod support;

use regwatch::driver::check::locate;
use regwatch::driver::dns::Resolver;
use regwatch::driver::{test_register, CheckOptions, Runner, RunnerConfig};
use regwatch::{Cause, EngineConfig, Event, Output, Transport, TrunkConfig};
use std::sync::mpsc;
use std::time::Duration;
use support::dns::{self, Dns};
use support::registrar::{self, Registrar, DOMAIN};

fn records(port: u16) -> Vec<String> {
    vec![
        format!("--srv-host=_sip._udp.{DOMAIN},sip-a.acme.test,{port},10,5"),
        format!("--srv-host=_sip._tcp.{DOMAIN},sip-a.acme.test,{port},10,5"),
        "--host-record=sip-a.acme.test,127.0.0.1".to_owned(),
        format!("--naptr-record={DOMAIN},10,50,s,SIP+D2T,,_sip._tcp.{DOMAIN}"),
        format!("--naptr-record={DOMAIN},20,50,s,SIP+D2U,,_sip._udp.{DOMAIN}"),
        "--srv-host=_sip._udp.broken.example.test,gone.acme.test,5060,10,5".to_owned(),
    ]
}

const ZONES: &[&str] = &["acme.test", "sip.twilio.com", "example.test"];

#[test]
fn srv_naptr_and_failures() {
    if !dns::available() {
        return;
    }
    let d = Dns::start(&records(45060), ZONES);
    let r = Resolver::with_nameserver(d.addr);
    let udp = r.locate(DOMAIN, Some(Transport::Udp), None).unwrap();
    assert_eq!(udp[0].addr.to_string(), "127.0.0.1:45060");
    assert_eq!(udp[0].via, format!("SRV _sip._udp.{DOMAIN}"));
    // No transport configured: NAPTR says TCP first (order 10), then UDP.
    let any = r.locate(DOMAIN, None, None).unwrap();
    assert_eq!(
        any.iter().map(|l| l.transport).collect::<Vec<_>>(),
        vec![Transport::Tcp, Transport::Udp]
    );
    // A port given: A/AAAA only, SRV ignored.
    let direct = r
        .locate("sip-a.acme.test", Some(Transport::Udp), Some(5080))
        .unwrap();
    assert_eq!(
        (direct[0].addr.to_string(), direct[0].via.as_str()),
        ("127.0.0.1:5080".to_owned(), "A/AAAA")
    );
    // The SRV target that does not resolve is the name reported.
    let e = r
        .locate("broken.example.test", Some(Transport::Udp), None)
        .unwrap_err();
    assert_eq!(e.name, "gone.acme.test");
    // No SRV and no address: the domain itself.
    let e = r
        .locate("nothing.example.test", Some(Transport::Udp), None)
        .unwrap_err();
    assert_eq!(e.name, "nothing.example.test");
}

fn trunk(domain: &str) -> TrunkConfig {
    let mut c = TrunkConfig::new("office");
    c.set("domain", domain).unwrap();
    c.set("username", "alice").unwrap();
    c.set("password", "Alice-Passw0rd-1").unwrap();
    c.set("expires", "600").unwrap();
    c.set("transport", "udp").unwrap();
    c
}

#[test]
fn checks_and_runner_find_the_registrar_by_srv() {
    if !dns::available() || !registrar::available() {
        return;
    }
    let reg = Registrar::start(false);
    let d = Dns::start(&records(reg.port), ZONES);
    let opts = CheckOptions {
        timeout: Duration::from_secs(3),
        nameserver: Some(d.addr),
        ..CheckOptions::default()
    };
    let eps = locate(&trunk(DOMAIN), &opts).unwrap();
    assert_eq!((eps[0].port, eps[0].transport), (reg.port, Transport::Udp));
    let c = test_register(&trunk(DOMAIN), &eps[0], &opts);
    assert_eq!(c.cause, Cause::Healthy, "{:#?}", c.steps);

    let e = locate(&trunk("broken.example.test"), &opts).unwrap_err();
    assert_eq!(e.name, "gone.acme.test");

    let mut ec = EngineConfig::default();
    ec.set("keepalive_interval_ms", "1000").unwrap();
    ec.set("keepalive_timeout_ms", "1000").unwrap();
    let (tx, rx) = mpsc::channel();
    let r = Runner::start(
        RunnerConfig {
            engine: ec,
            nameserver: Some(d.addr),
            ..RunnerConfig::default()
        },
        Box::new(move |_, o| {
            if let Output::Event(Event::AlertRaised { name, cause, .. }) = o {
                let _ = tx.send((name.to_string(), *cause));
            }
        }),
    )
    .unwrap();
    r.add_trunk(trunk(DOMAIN)).unwrap();
    let mut broken = trunk("broken.example.test");
    broken.set("name", "broken").unwrap();
    r.add_trunk(broken).unwrap();
    let (name, cause) = rx.recv_timeout(Duration::from_secs(8)).expect("an alert");
    assert_eq!((name.as_str(), cause), ("broken", Cause::DnsFailure));
    let (_, diag) = r.snapshot("broken").unwrap().unwrap();
    assert!(
        diag.summary
            .contains("the name gone.acme.test does not resolve"),
        "{}",
        diag.summary
    );
    std::thread::sleep(Duration::from_secs(2));
    let (snap, _) = r.snapshot("office").unwrap().unwrap();
    assert_eq!(snap.keepalive.last_code, Some(200), "{:?}", snap.keepalive);
    assert_eq!(snap.keepalive.failed, 0);
    r.stop();
}
