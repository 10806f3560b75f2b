//! Validates a sample trunk file and replays what the PBXes saw through the
//! engine on a simulated clock, printing state changes, alerts and, at the
//! end, each trunk's diagnosis with the fix.
//!
//!     cargo run --example triage -- examples/sample/trunks.toml
use regwatch::{
    Challenge, Engine, EngineConfig, Event, HostState, Observation, Output, RegisterResponse,
    RegisterSent, Transport, TransportErrorKind, TrunkConfig, TwilioError,
};
use serde::Deserialize;
use std::process::ExitCode;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    trunk: Vec<TrunkEntry>,
    #[serde(default)]
    observe: Vec<Obs>,
    run: Option<Run>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrunkEntry {
    name: String,
    domain: String,
    username: String,
    auth_username: Option<String>,
    password: Option<String>,
    realm: Option<String>,
    transport: Option<String>,
    port: Option<u16>,
    proxy: Option<String>,
    expires: Option<u32>,
    profile: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Obs {
    at: f64,
    trunk: String,
    event: String,
    expires: Option<u32>,
    #[serde(default)]
    credentials: bool,
    transport: Option<String>,
    code: Option<u16>,
    reason: Option<String>,
    granted: Option<u32>,
    realm: Option<String>,
    #[serde(default)]
    stale: bool,
    min_expires: Option<u32>,
    retry_after: Option<u32>,
    twilio_error: Option<u32>,
    server: Option<String>,
    kind: Option<String>,
    detail: Option<String>,
    state: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    until: f64,
}

fn config(t: &TrunkEntry) -> Result<TrunkConfig, String> {
    let mut c = TrunkConfig::new(&t.name);
    let port = t.port.map(|p| p.to_string());
    let expires = t.expires.map(|e| e.to_string());
    let fields = [
        ("domain", Some(t.domain.as_str())),
        ("username", Some(t.username.as_str())),
        ("auth_username", t.auth_username.as_deref()),
        ("password", t.password.as_deref()),
        ("realm", t.realm.as_deref()),
        ("transport", t.transport.as_deref()),
        ("port", port.as_deref()),
        ("proxy", t.proxy.as_deref()),
        ("expires", expires.as_deref()),
        ("profile", t.profile.as_deref()),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            c.set(k, v).map_err(|e| format!("trunk {}: {e}", t.name))?;
        }
    }
    Ok(c)
}

fn observation(o: &Obs) -> Result<Observation<'_>, String> {
    let transport = match o.transport.as_deref() {
        None => None,
        Some(t) => Some(Transport::parse(t).ok_or_else(|| format!("unknown transport {t}"))?),
    };
    Ok(match o.event.as_str() {
        "register_sent" => Observation::RegisterSent(RegisterSent {
            expires: o.expires,
            with_credentials: o.credentials,
            transport,
            credentials_unknown: false,
        }),
        "response" => Observation::RegisterResponse(RegisterResponse {
            code: o.code.ok_or("a response needs a code")?,
            reason: o.reason.as_deref().unwrap_or(""),
            granted_expires: o.granted,
            contact_bound: o.granted.map(|_| true),
            challenge: o.realm.as_deref().map(|realm| Challenge {
                realm,
                stale: o.stale,
                ..Default::default()
            }),
            min_expires: o.min_expires,
            retry_after: o.retry_after,
            twilio_error: o.twilio_error.map(|code| TwilioError { code, text: "" }),
            server: o.server.as_deref(),
            transport,
        }),
        "timeout" => Observation::RegisterTimeout { transport },
        "transport_error" => Observation::TransportError {
            transport,
            kind: o
                .kind
                .as_deref()
                .and_then(TransportErrorKind::parse)
                .ok_or("transport_error needs kind = refused|unreachable|dns|tls")?,
            detail: o.detail.as_deref(),
        },
        "deregistered" => Observation::Deregistered,
        "host_state" => Observation::HostState {
            state: o
                .state
                .as_deref()
                .and_then(HostState::parse)
                .ok_or("host_state needs state = registered|unregistered|rejected|gave_up")?,
            detail: o.detail.as_deref(),
        },
        other => return Err(format!("unknown event {other}")),
    })
}

fn report(engine: &mut Engine) {
    while let Some(out) = engine.poll_output() {
        match out {
            Output::Event(Event::StateChanged {
                name,
                at_ms,
                from,
                to,
                cause,
                ..
            }) => {
                println!(
                    "[{:>7.1} s] {name}: {from} -> {to} ({cause})",
                    at_ms as f64 / 1000.0
                )
            }
            Output::Event(Event::AlertRaised {
                name,
                at_ms,
                severity,
                summary,
                ..
            }) => {
                println!(
                    "[{:>7.1} s] ALERT ({severity}) {name}: {summary}",
                    at_ms as f64 / 1000.0
                )
            }
            Output::Event(Event::AlertCleared {
                name, at_ms, cause, ..
            }) => {
                println!(
                    "[{:>7.1} s] cleared {name} ({cause})",
                    at_ms as f64 / 1000.0
                )
            }
            Output::Event(Event::Finding { name, finding, .. }) => {
                println!(
                    "            {name}: [{}] {}: {}",
                    finding.severity, finding.code, finding.message
                )
            }
            Output::Action(a) => println!("            action: {a:?}"),
            // Keep-alive is off in this replay: nothing is sent.
            Output::Transmit(p) => {
                println!(
                    "            probe: {}:{} {}",
                    p.target.host, p.port, p.transport
                )
            }
        }
    }
}

fn run(path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let file: File = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let ms = |s: f64| (s * 1000.0).round() as u64;
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    println!("== configuration");
    for t in &file.trunk {
        engine.add_trunk(0, config(t)?).map_err(|e| e.to_string())?;
    }
    report(&mut engine);
    println!("\n== what happened");
    let mut obs: Vec<&Obs> = file.observe.iter().collect();
    obs.sort_by(|a, b| a.at.total_cmp(&b.at));
    for o in obs {
        let now = ms(o.at);
        // Fire the timers due before this observation, as a host loop would.
        while let Some(d) = engine.poll_timeout().filter(|d| *d <= now) {
            engine.handle_timeout(d);
            report(&mut engine);
        }
        let id = engine
            .find_trunk(&o.trunk)
            .ok_or_else(|| format!("unknown trunk {}", o.trunk))?;
        engine
            .handle_observation(now, id, observation(o)?)
            .map_err(|e| e.to_string())?;
        report(&mut engine);
    }
    let until = ms(file.run.map_or(0.0, |r| r.until));
    while let Some(d) = engine.poll_timeout().filter(|d| *d <= until) {
        engine.handle_timeout(d);
        report(&mut engine);
    }
    engine.handle_timeout(until);
    println!("\n== diagnoses at {:.0} s", until as f64 / 1000.0);
    for id in engine.trunk_ids().collect::<Vec<_>>() {
        println!();
        print!(
            "{}",
            regwatch::core::render_trunk_text(&engine, id).map_err(|e| e.to_string())?
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: triage <trunks.toml>");
        return ExitCode::from(2);
    };
    match run(&path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("triage: {e}");
            ExitCode::from(2)
        }
    }
}
