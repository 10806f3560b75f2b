//! `regwatch explain CODE`.
use super::term::Style;
use regwatch::core::diagnosis::{codes, explain};
use regwatch::{Cause, Profile};
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A SIP status code (403), a Twilio Debugger code (32202, 31201) or a
    /// cause id (credentials_rejected).
    code: String,
    /// Explain for a generic registrar instead of Twilio.
    #[arg(long)]
    generic: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: &Args) -> u8 {
    let profile = if a.generic {
        Profile::Generic
    } else {
        Profile::Twilio
    };
    let code = a.code.trim();
    let st = Style::stdout();
    if let Ok(n) = code.parse::<u32>() {
        if let Some(s) = u16::try_from(n).ok().and_then(codes::sip_status) {
            let d = s.cause.map(|c| explain(c, profile));
            if a.json {
                let v = json!({
                    "kind": "sip_status",
                    "code": s.code,
                    "reason": s.reason,
                    "class": codes::sip_status_class(s.code),
                    "for_register": s.for_register,
                    "cause": s.cause.map(Cause::as_str),
                    "diagnosis": d,
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!("{} {}", st.bold(&format!("SIP {}", s.code)), s.reason);
                println!("{}", s.for_register);
                if let Some(d) = d {
                    print_cause(&st, &d);
                }
            }
            return 0;
        }
        if let Some(t) = codes::twilio_code(n) {
            let d = t.cause.map(|c| explain(c, profile));
            if a.json {
                let v = json!({
                    "kind": "twilio_debugger",
                    "code": t.code,
                    "title": t.title,
                    "meaning": t.meaning,
                    "note": t.note,
                    "cause": t.cause.map(Cause::as_str),
                    "diagnosis": d,
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!("{} {}", st.bold(&format!("Twilio {}", t.code)), t.title);
                println!("{}", t.meaning);
                if let Some(n) = t.note {
                    println!("{}", st.warn(n));
                }
                if let Some(d) = d {
                    print_cause(&st, &d);
                }
            }
            return 0;
        }
        if (100..=699).contains(&n) {
            let class = codes::sip_status_class(n as u16);
            if a.json {
                println!(
                    "{}",
                    json!({"kind": "sip_status", "code": n, "class": class})
                );
            } else {
                println!("{} {class}", st.bold(&format!("SIP {n}")));
            }
            return 0;
        }
    }
    if let Some(c) = Cause::parse(code) {
        let d = explain(c, profile);
        if a.json {
            let v = json!({"kind": "cause", "cause": c.as_str(), "diagnosis": d});
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            print_cause(&st, &d);
        }
        return 0;
    }
    eprintln!(
        "regwatch explain: `{}` is neither a SIP status code, a Twilio Debugger code regwatch knows, nor a cause id",
        regwatch::core::terminal_safe(code)
    );
    eprintln!(
        "cause ids: {}",
        Cause::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    2
}

fn print_cause(st: &Style, d: &regwatch::Diagnosis) {
    println!();
    println!(
        "{} {}",
        st.bold(&format!("Cause: {}", d.cause.as_str())),
        st.severity(d.severity)
    );
    println!("{}", d.summary);
    if !d.remediation.is_empty() {
        println!("What to do:");
        for (i, r) in d.remediation.iter().enumerate() {
            println!("  {}. {r}", i + 1);
        }
    }
    if !d.references.is_empty() {
        println!("References:");
        for r in &d.references {
            println!("  {} {}: {}", r.source, r.id, r.title);
        }
    }
}
