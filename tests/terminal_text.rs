//! Text from the network or a file reaches a terminal without control
//! characters: a registrar's reason phrase with `ESC[2J` (clear screen), an
//! OSC window title and a C1 CSI, the same in `Server` and
//! `X-Twilio-Error`, a trunk name and a domain from a file. The console
//! renderings (what `regwatch`, the Asterisk CLI and fs_cli print) drop
//! them; the JSON keeps the text as it was, escaped.
use regwatch::core::{render_findings_text, render_trunk_json, render_trunk_text};
use regwatch::core::{render_trunks_text, terminal_safe};
use regwatch::{
    Engine, EngineConfig, Observation, RegisterResponse, RegisterSent, TrunkConfig, TwilioError,
};
use std::process::Command;

const REASON: &str = "Forbidden\x1b[2J\x1b]0;owned\x07\u{9b}31mX";
const SERVER: &str = "Evil\x1b[31mServer\r\nInjected: 1";
const TWILIO: &str = "Bad\x1b[2Jcredentials";
const NAME: &str = "office\x1b[2J\u{9b}31m";
const DOMAIN: &str = "https://acme\x1b]0;title\x07.sip.twilio.com";

/// Every control character of `s` other than the line feed.
fn controls(s: &str) -> Vec<char> {
    s.chars().filter(|c| c.is_control() && *c != '\n').collect()
}

fn hostile_engine() -> (Engine, regwatch::TrunkId) {
    let mut c = TrunkConfig::new(NAME);
    c.set("domain", DOMAIN).unwrap();
    c.set("username", "office").unwrap();
    c.set("password", "Str0ngPassw0rdX").unwrap();
    let mut engine = Engine::new(EngineConfig::default(), 0, 7);
    let id = engine.add_trunk(0, c).unwrap();
    engine
        .handle_observation(
            10,
            id,
            Observation::RegisterSent(RegisterSent {
                expires: Some(3600),
                with_credentials: true,
                transport: None,
                credentials_unknown: false,
            }),
        )
        .unwrap();
    engine
        .handle_observation(
            20,
            id,
            Observation::RegisterResponse(RegisterResponse {
                code: 403,
                reason: REASON,
                server: Some(SERVER),
                twilio_error: Some(TwilioError {
                    code: 32202,
                    text: TWILIO,
                }),
                ..Default::default()
            }),
        )
        .unwrap();
    while engine.poll_output().is_some() {}
    (engine, id)
}

#[test]
fn console_renderings_drop_control_characters() {
    let (engine, id) = hostile_engine();
    let text = render_trunk_text(&engine, id).unwrap();
    assert!(controls(&text).is_empty(), "{:?}\n{text}", controls(&text));
    // What the registrar said is still there, minus the controls.
    assert!(
        text.contains("Last response: 403 Forbidden[2J]0;owned31mX"),
        "{text}"
    );
    assert!(text.contains("Server: Evil[31mServerInjected: 1"), "{text}");
    assert!(
        text.contains("X-Twilio-Error: 32202 Bad[2Jcredentials"),
        "{text}"
    );
    assert!(text.contains("Trunk office[2J31m "), "{text}");
    // A header value cannot start a line of its own.
    assert!(!text.lines().any(|l| l.starts_with("Injected")), "{text}");

    let list = render_trunks_text(&engine);
    assert!(controls(&list).is_empty(), "{list}");
    assert!(list.contains("office[2J31m "), "{list}");
    let findings = render_findings_text(&engine);
    assert!(controls(&findings).is_empty(), "{findings}");
    assert!(findings.contains("office[2J31m (https://acme]0;title.sip.twilio.com):"));
}

#[test]
fn json_keeps_the_text_escaped() {
    let (engine, id) = hostile_engine();
    let json = render_trunk_json(&engine, id).unwrap();
    // Escaped: no raw ESC, BEL or line break in the document.
    assert!(!json.contains(['\x1b', '\x07', '\r', '\n']), "{json}");
    assert!(
        json.contains("Forbidden\\u001b[2J\\u001b]0;owned\\u0007"),
        "{json}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["last_reason"], REASON);
    assert_eq!(v["name"], NAME);
    assert!(v["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e.as_str().unwrap().contains(SERVER)));
}

#[test]
fn host_errors_quote_without_control_characters() {
    let e = regwatch::hosts::HostError::Ignored("AMI event `Reg\x1b[2Jistry`".into());
    assert_eq!(e.to_string(), "ignored: AMI event `Reg[2Jistry`");
    let e = regwatch::hosts::HostError::UnknownRegistration {
        client_uri: "sip:a@b\u{9b}31m".into(),
        server_uri: "sip:b\r\nx".into(),
    };
    assert!(controls(&e.to_string()).is_empty(), "{e}");
}

fn lint(args: &[&str], file: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_regwatch"))
        .arg("lint")
        .args(args)
        .arg(file)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn lint_text_drops_control_characters_json_keeps_them() {
    let dir = std::env::temp_dir().join(format!("regwatch-terminal-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("trunks.toml");
    std::fs::write(
        &file,
        "[[trunk]]\nname = \"evil\\u001b[2Jname\\u009b31m\"\n\
         domain = \"https://pbx\\u001b]0;owned\\u0007.example.net\"\n\
         username = \"office\\u001b[31m\"\npassword = \"Str0ngPassw0rdX\"\ntransport = \"udp\"\n",
    )
    .unwrap();
    let text = lint(&[], &file);
    assert!(text.contains("trunk evil[2Jname31m: "), "{text}");
    assert!(controls(&text).is_empty(), "{:?}\n{text}", controls(&text));
    let inventory = lint(&["--inventory"], &file);
    assert!(inventory.contains("evil[2Jname31m "), "{inventory}");
    assert!(controls(&inventory).is_empty(), "{inventory}");
    let json = lint(&["--json"], &file);
    assert!(!json.contains('\x1b'), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["files"][0]["trunks"][0]["name"],
        "evil\x1b[2Jname\u{9b}31m"
    );
    let _ = std::fs::remove_dir_all(&dir);
    // The sanitizer itself keeps what is printable.
    assert_eq!(terminal_safe("Réponse ✓"), "Réponse ✓");
}
