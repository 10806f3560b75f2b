//! `regwatch check`: one trunk, live.
use super::term::Style;
use super::ProfileArg;
use regwatch::core::terminal_safe;
use regwatch::driver::check::{
    dns_failure, locate, options, query_register, test_register, CheckOptions, RegisterCheck,
};
use regwatch::driver::Endpoint;
use regwatch::{Cause, Diagnosis, Severity, Transport, TrunkConfig};
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportArg {
    Udp,
    Tcp,
    Tls,
    /// UDP, TCP and TLS probed; the test REGISTER over the first that answers.
    Auto,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The SIP domain (`<name>.sip.twilio.com`).
    #[arg(long)]
    domain: String,
    /// The AOR user.
    #[arg(long)]
    user: String,
    /// The digest user, when it differs from --user.
    #[arg(long)]
    auth_user: Option<String>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    password_env: Option<String>,
    /// Read the password from this file (first line).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// The transport (auto: probe all three).
    #[arg(long, value_enum, default_value = "auto")]
    transport: TransportArg,
    /// Send to this outbound proxy instead of the domain's servers.
    #[arg(long, value_name = "HOST:PORT")]
    proxy: Option<String>,
    /// The expiry to request, in seconds.
    #[arg(long, default_value_t = 600)]
    expires: u32,
    /// PEM CAs to trust for TLS instead of the system's store.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The DNS server to ask (for private zones).
    #[arg(long, value_name = "IP:PORT")]
    nameserver: Option<std::net::SocketAddr>,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 8)]
    timeout: u64,
    /// Stay registered after the test instead of ending with Expires: 0.
    #[arg(long, conflicts_with = "query")]
    stay: bool,
    /// Instead of the test REGISTER, a query REGISTER (no Contact, RFC 3261
    /// §10.2.3): proves the credentials and lists the bindings the
    /// registrar holds for the AOR, adding none.
    #[arg(long)]
    query: bool,
    /// Whose rules apply (default: detected from the domain).
    #[arg(long, value_enum)]
    profile: Option<ProfileArg>,
    /// Print JSON: {"steps":[...],"diagnosis":{...}}.
    #[arg(long)]
    json: bool,
}

/// The password from the place the user named, or the prompt.
fn password(a: &Args) -> Result<Option<String>, String> {
    if let Some(var) = &a.password_env {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| format!("the environment variable {var} is not set"));
    }
    if let Some(f) = &a.password_file {
        let t = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        return Ok(Some(t.lines().next().unwrap_or("").to_owned()));
    }
    if std::io::stdin().is_terminal() && !a.json {
        return rpassword::prompt_password(format!("Password for {}@{}: ", a.user, a.domain))
            .map(|p| (!p.is_empty()).then_some(p))
            .map_err(|e| e.to_string());
    }
    Ok(None)
}

struct Out {
    json: bool,
    st: Style,
    steps: Vec<Value>,
}

impl Out {
    /// A progress line (stderr when printing JSON, so stdout stays JSON).
    fn progress(&self, s: &str) {
        if self.json {
            return;
        }
        print!("{} ", self.st.dim(&format!("… {s}")));
        let _ = std::io::stdout().flush();
    }
    fn done(&mut self, step: Value, line: String) {
        if !self.json {
            println!("{line}");
        }
        self.steps.push(step);
    }
}

pub fn run(a: &Args) -> u8 {
    let password = match password(a) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("regwatch check: {e}");
            return 2;
        }
    };
    let mut cfg = TrunkConfig::new("check");
    let mut set = |k: &str, v: &str| cfg.set(k, v).map_err(|e| e.to_string());
    let r = (|| {
        set("domain", &a.domain)?;
        set("username", &a.user)?;
        if let Some(u) = &a.auth_user {
            set("auth_username", u)?;
        }
        if let Some(p) = &password {
            set("password", p)?;
        }
        if let Some(p) = &a.proxy {
            set("proxy", p)?;
        }
        set("expires", &a.expires.to_string())?;
        match a.transport {
            TransportArg::Udp => set("transport", "udp"),
            TransportArg::Tcp => set("transport", "tcp"),
            TransportArg::Tls => set("transport", "tls"),
            TransportArg::Auto => Ok(()),
        }
    })();
    if let Err(e) = r {
        eprintln!("regwatch check: {e}");
        return 2;
    }
    if let Some(p) = a.profile {
        cfg.profile = Some(p.profile());
    }
    let opts = CheckOptions {
        timeout: Duration::from_secs(a.timeout.max(1)),
        stay_registered: a.stay,
        ca_file: a.ca_file.clone(),
        nameserver: a.nameserver,
        ..CheckOptions::default()
    };
    if let Err(e) = opts.check_ca_file() {
        eprintln!("regwatch check: {e}");
        return 2;
    }
    let mut out = Out {
        json: a.json,
        st: Style::stdout(),
        steps: Vec::new(),
    };

    // 1. Validation.
    let findings = cfg.findings(Some(0.5));
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let mut line = format!(
        "validate: {}",
        if findings.is_empty() {
            out.st.good("ok")
        } else {
            format!(
                "{} finding{}",
                findings.len(),
                if findings.len() == 1 { "" } else { "s" }
            )
        }
    );
    for f in &findings {
        line.push_str(&format!(
            "\n  {} {} {}\n    fix: {}",
            out.st.severity(f.severity),
            f.code,
            f.message,
            f.fix
        ));
    }
    out.done(json!({"step": "validate", "findings": findings}), line);

    // 2. Where the requests go (RFC 3263, or the proxy).
    let transports: Vec<Transport> = match a.transport {
        TransportArg::Udp => vec![Transport::Udp],
        TransportArg::Tcp => vec![Transport::Tcp],
        TransportArg::Tls => vec![Transport::Tls],
        TransportArg::Auto => Transport::ALL.to_vec(),
    };
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut dns_error = None;
    for t in &transports {
        let mut c = cfg.clone();
        c.transport = Some(*t);
        if a.proxy.is_none() && a.transport == TransportArg::Auto && *t == Transport::Tls {
            c.port = None;
        }
        out.progress(&format!(
            "locating {} over {}",
            a.proxy.as_deref().unwrap_or(&a.domain),
            t.as_str().to_uppercase()
        ));
        match locate(&c, &opts) {
            Ok(eps) => {
                let ep = eps.into_iter().find(|e| e.transport == *t);
                let text = match &ep {
                    Some(e) => format!("dns {}: {}:{}", t.as_str(), e.host, e.port),
                    None => format!("dns {}: no server for this transport", t.as_str()),
                };
                out.done(json!({"step": "dns", "transport": t.as_str(), "endpoint": ep.as_ref().map(|e| format!("{}:{}", e.host, e.port))}), text);
                endpoints.extend(ep);
            }
            Err(e) => {
                out.done(json!({"step": "dns", "transport": t.as_str(), "error": e.to_string(), "name": e.name}), format!("dns {}: {}", t.as_str(), out.st.bad(&terminal_safe(&e.to_string()))));
                dns_error = Some(e);
                break;
            }
        }
    }

    // 3. OPTIONS per transport.
    let mut answering: Vec<Endpoint> = Vec::new();
    let mut probe_results = Vec::new();
    for ep in &endpoints {
        out.progress(&format!("OPTIONS to {ep}"));
        let o = options(ep, cfg.domain.trim(), &cfg.username, &opts);
        let ok = o.result.class().reachable();
        let summary = if o.result.code().is_none() && o.error.is_some() {
            out.st.bad(&o.summary())
        } else {
            o.summary()
        };
        let text = format!("options {}: {summary}", ep.transport.as_str());
        out.done(
            json!({"step": "options", "transport": ep.transport.as_str(), "outcome": o}),
            text,
        );
        if ok {
            answering.push(ep.clone());
        }
        probe_results.push((ep.transport, o.result));
    }

    // 4. The test REGISTER over the configured transport, or the first
    // that answered.
    let reg_ep = answering
        .first()
        .cloned()
        .or_else(|| endpoints.first().cloned());
    let mut check: Option<RegisterCheck> = None;
    if let Some(ep) = reg_ep {
        if dns_error.is_none() {
            let mut c = cfg.clone();
            c.transport = Some(ep.transport);
            let (r, step) = if a.query {
                out.progress(&format!("query REGISTER to {ep}"));
                (query_register(&c, &ep, &opts), "query")
            } else {
                out.progress(&format!("test REGISTER to {ep}"));
                (test_register(&c, &ep, &opts), "register")
            };
            let mut text = format!("{step} {}:", ep.transport.as_str());
            for s in &r.steps {
                let code = s.code.map_or_else(|| "-".to_owned(), |c| c.to_string());
                // The reason and the note (a challenge's realm) are the
                // registrar's words.
                text.push_str(&format!(
                    "\n  {} -> {code} {} {}",
                    s.request,
                    terminal_safe(&s.reason),
                    out.st.dim(&terminal_safe(&s.note))
                ));
            }
            if let Some(o) = r.outcome() {
                text.push_str(&format!("\n  {}", terminal_safe(&o)));
            }
            out.done(
                json!({"step": step, "transport": ep.transport.as_str(), "result": r}),
                text,
            );
            check = Some(r);
        }
    }

    // 5. One diagnosis.
    let diagnosis: Diagnosis = match (&check, &dns_error) {
        (Some(r), _) => transport_verdict(r.diagnosis.clone(), &probe_results),
        (None, Some(e)) => dns_failure(e, cfg.effective_profile()),
        (None, None) => regwatch::core::diagnosis::explain(
            if errors > 0 {
                Cause::ConfigInvalid
            } else {
                Cause::Unknown
            },
            cfg.effective_profile(),
        ),
    };
    let healthy = matches!(diagnosis.cause, Cause::Healthy | Cause::ExpiryDrift) && errors == 0;
    if a.json {
        let v = json!({
            "domain": a.domain,
            "user": a.user,
            "steps": out.steps,
            "diagnosis": {
                "cause": diagnosis.cause.as_str(),
                "summary": diagnosis.summary,
                "evidence": diagnosis.evidence,
                "remediation": diagnosis.remediation,
                "references": diagnosis.references,
                "severity": diagnosis.severity,
                "confidence": diagnosis.confidence,
            },
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        let st = &out.st;
        println!();
        let head = if healthy {
            st.good(diagnosis.cause.as_str())
        } else {
            st.bad(diagnosis.cause.as_str())
        };
        println!("{} {head}", st.bold("Diagnosis:"));
        // The diagnosis quotes the registrar (reason, Server,
        // X-Twilio-Error): no control character of theirs reaches the
        // terminal.
        println!("{}", terminal_safe(&diagnosis.summary));
        for e in &diagnosis.evidence {
            println!("  - {}", terminal_safe(e));
        }
        if !healthy {
            println!("What to do:");
            for (i, r) in diagnosis.remediation.iter().enumerate() {
                println!("  {}. {}", i + 1, terminal_safe(r));
            }
        }
    }
    if healthy {
        0
    } else {
        1
    }
}

/// When the REGISTER went unanswered over one transport while OPTIONS over
/// another was answered, that is a blocked transport.
fn transport_verdict(d: Diagnosis, probes: &[(Transport, regwatch::ProbeResult)]) -> Diagnosis {
    if d.cause != Cause::RegistrarUnreachable {
        return d;
    }
    let ok: Vec<&str> = probes
        .iter()
        .filter(|(_, r)| r.class().reachable())
        .map(|(t, _)| t.as_str())
        .collect();
    let failed: Vec<&str> = probes
        .iter()
        .filter(|(_, r)| !r.class().reachable())
        .map(|(t, _)| t.as_str())
        .collect();
    if ok.is_empty() || failed.is_empty() {
        return d;
    }
    let mut b =
        regwatch::core::diagnosis::explain(Cause::TransportBlocked, regwatch::Profile::Generic);
    b.summary = format!(
        "{} gets no answer while {} does: something blocks {}.",
        failed.join(", ").to_uppercase(),
        ok.join(", ").to_uppercase(),
        failed.join(", ").to_uppercase()
    );
    b.evidence = d.evidence;
    b
}
