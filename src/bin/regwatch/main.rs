//! `regwatch`: lint SIP trunk configurations, check a trunk live, explain
//! codes and causes. See `regwatch --help` and `regwatch help <command>`.
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

mod analyze;
mod check;
mod explain;
mod files;
mod lint;
mod metrics_http;
mod term;
mod timestamp;
mod watch;
mod watch_metrics;

/// Keeps SIP trunk registrations alive and explains why they fail.
#[derive(Parser, Debug)]
#[command(
    name = "regwatch",
    version,
    about,
    after_help = "Exit status: 0 all good, 1 a problem was found, 2 usage error or unreadable input.\n\
                  Passwords are never printed; give them with --password-env, --password-file or at the prompt.",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Whose rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Twilio SIP Domains (`<name>.sip.twilio.com`).
    Twilio,
    /// Any other registrar.
    Generic,
}

impl ProfileArg {
    fn profile(self) -> regwatch::Profile {
        match self {
            ProfileArg::Twilio => regwatch::Profile::Twilio,
            ProfileArg::Generic => regwatch::Profile::Generic,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate trunk configurations: Asterisk pjsip.conf, FreeSWITCH
    /// gateway XML, regwatch trunk files (TOML); the kind is detected from
    /// the content.
    #[command(after_help = "Examples:\n  \
        regwatch lint /etc/asterisk/pjsip.conf\n  \
        regwatch lint --json examples/lint/freeswitch-gateways.xml\n  \
        regwatch lint --inventory examples/sample/trunks.toml\n\n\
        Exit status: 0 no errors, 1 errors found, 2 unreadable input or usage.")]
    Lint(lint::Args),
    /// Check one trunk live: validation, DNS (RFC 3263), OPTIONS per
    /// transport, a test REGISTER with digest auth, and Expires: 0 at the
    /// end; prints each step as it happens and one diagnosis.
    #[command(after_help = "Examples:\n  \
        REGWATCH_PASSWORD=... regwatch check --domain acme.sip.twilio.com --user office --password-env REGWATCH_PASSWORD\n  \
        regwatch check --domain pbx.example.net --user 1001 --transport tls --ca-file ca.pem --password-file pw.txt\n  \
        regwatch check --domain acme.sip.twilio.com --user office --proxy 127.0.0.1:5060 --json < /dev/null\n\n\
        Exit status: 0 healthy, 1 a problem was found, 2 usage error.")]
    Check(check::Args),
    /// Explain a SIP status code, a Twilio Debugger code or a regwatch
    /// cause id: what it means for registration and what to do.
    #[command(
        after_help = "Examples:\n  regwatch explain 403\n  regwatch explain 32202\n  \
        regwatch explain 31201\n  regwatch explain transport_blocked --json\n\n\
        Exit status: 0 explained, 2 unknown code."
    )]
    Explain(explain::Args),
    /// Diagnose captured traffic offline: Asterisk `pjsip set logger on`
    /// output, FreeSWITCH `sofia global siptrace on` output, SIPp
    /// `-trace_msg` logs, pcap/pcapng; every REGISTER exchange with the
    /// engine's cause, per AOR in episodes, and each registration's
    /// diagnosis.
    #[command(after_help = "Examples:\n  \
        regwatch analyze examples/analyze/register-403.pcap\n  \
        regwatch analyze --json examples/analyze/asterisk-pjsip-logger.txt\n\n\
        Exit status: 0 every exchange and registration healthy, 1 a problem found, 2 unreadable input.")]
    Analyze(analyze::Args),
    /// Monitor every trunk of a file with OPTIONS keep-alives and a
    /// credential query (a REGISTER without Contact, which adds no
    /// binding); print state changes and alerts as they happen; run a
    /// command on alerts; serve Prometheus metrics. SIGHUP reloads the
    /// file; SIGINT/SIGTERM stop.
    #[command(after_help = "Examples:\n  \
        regwatch watch --config examples/sample/trunks.toml\n  \
        regwatch watch --config /etc/asterisk/pjsip.conf --metrics 127.0.0.1:9464 --on-alert 'mail -s regwatch ops@example.com'\n  \
        regwatch watch --config trunks.toml --json --register-interval 300\n\n\
        Exit status: 0 stopped by a signal, 2 unreadable configuration or usage.")]
    Watch(watch::Args),
    /// Print the manual page (roff): `regwatch man > regwatch.1`; with
    /// --dir, write one page per command there instead (regwatch.1,
    /// regwatch-watch.1, ...), as a package installs them.
    Man {
        /// The directory to write the pages into (it must exist).
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Print shell completions: `regwatch completions bash > /etc/bash_completion.d/regwatch`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// One page per command in `dir`: `regwatch.1`, then `regwatch-watch.1`
/// and the others, each with the synopsis `regwatch watch ...` and the
/// version in its title line.
fn man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let source = format!("regwatch {}", env!("CARGO_PKG_VERSION"));
    let subs: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
    clap_mangen::Man::new(cmd).generate_to(dir)?;
    for sub in subs {
        clap_mangen::Man::new(sub)
            .source(source.clone())
            .generate_to(dir)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output
    // goes away (`regwatch lint ... | head`) instead of failing to write.
    // SAFETY: restoring the default disposition of SIGPIPE at start-up,
    // before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Lint(a) => lint::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Explain(a) => explain::run(&a),
        Command::Analyze(a) => analyze::run(&a),
        Command::Watch(a) => watch::run(&a),
        Command::Man { dir: Some(dir) } => match man_pages(&dir) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("regwatch man: {}: {e}", dir.display());
                2
            }
        },
        Command::Man { dir: None } => {
            let mut out = Vec::new();
            let cmd = Cli::command();
            if clap_mangen::Man::new(cmd.clone()).render(&mut out).is_err() {
                return ExitCode::from(2);
            }
            // One section per subcommand, after the main page.
            for sub in cmd
                .get_subcommands()
                .filter(|s| !matches!(s.get_name(), "man" | "completions" | "help"))
            {
                let name: &'static str =
                    Box::leak(format!("regwatch-{}", sub.get_name()).into_boxed_str());
                let sub = sub.clone().name(name);
                let _ = clap_mangen::Man::new(sub).render(&mut out);
            }
            use std::io::Write;
            let _ = std::io::stdout().write_all(&out);
            0
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "regwatch",
                &mut std::io::stdout(),
            );
            0
        }
    };
    ExitCode::from(code)
}
