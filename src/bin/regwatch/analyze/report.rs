//! What a file's exchanges add up to, kept bounded whatever the capture's
//! size: per AOR the count of each cause and its failure episodes (a run
//! of similar exchanges folded into one line), the first
//! [`EPISODES_HEAD`] and the last [`EPISODES_TAIL`] of them listed and
//! those between counted; every exchange, unfolded, goes to a spill file
//! for `--json` (written out at the end, never held in memory). What was
//! not understood is counted per reason with the offsets of the first
//! [`OFFSETS_KEPT`] messages.
use super::exchanges::{Ending, Exchange};
use regwatch::core::Verdict;
use regwatch::TrunkId;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};

/// Episodes listed from the start of an AOR's exchanges.
pub(super) const EPISODES_HEAD: usize = 40;
/// Episodes listed from the end.
pub(super) const EPISODES_TAIL: usize = 40;
/// Offsets kept per reason a message was not understood.
pub(super) const OFFSETS_KEPT: usize = 20;
/// Distinct reasons kept (more are counted under the last).
const REASONS_KEPT: usize = 64;

/// Where a message is in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Offset {
    /// The line its entry starts on (text logs).
    Line(u64),
    /// The pcap/pcapng record (frame) that completed it, from 1.
    Record(u64),
}

impl Offset {
    pub(super) fn kind(self) -> &'static str {
        match self {
            Offset::Line(_) => "line",
            Offset::Record(_) => "record",
        }
    }

    pub(super) fn number(self) -> u64 {
        match self {
            Offset::Line(n) | Offset::Record(n) => n,
        }
    }
}

/// The status an exchange is counted under: the engine's cause, else how
/// it ended.
pub(super) fn status(ex: &Exchange) -> &'static str {
    match (ex.cause(), ex.ending) {
        (Some(c), _) => c.as_str(),
        (None, Ending::Answered) => "unclassified",
        (None, e) => e.as_str(),
    }
}

/// What makes two exchanges similar (one episode).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    status: &'static str,
    ending: Ending,
    code: Option<u16>,
    challenge: Option<u16>,
    auth_user: Option<Box<str>>,
}

/// A run of similar exchanges of one AOR.
#[derive(Clone, Debug)]
pub(super) struct Episode {
    key: Key,
    pub(super) first_ms: u64,
    pub(super) last_ms: u64,
    pub(super) count: u64,
    pub(super) retransmissions: u64,
    pub(super) failed: bool,
    pub(super) expires: Option<u32>,
    pub(super) granted: Option<u32>,
    pub(super) reason: Box<str>,
    /// Unanswered at the end of the capture: how long after it the
    /// capture ended.
    pub(super) capture_ended_after_ms: Option<u64>,
}

impl Episode {
    pub(super) fn status(&self) -> &'static str {
        self.key.status
    }
    pub(super) fn ending(&self) -> Ending {
        self.key.ending
    }
    pub(super) fn code(&self) -> Option<u16> {
        self.key.code
    }
    pub(super) fn challenge(&self) -> Option<u16> {
        self.key.challenge
    }
    pub(super) fn auth_user(&self) -> Option<&str> {
        self.key.auth_user.as_deref()
    }
}

/// One AOR's exchanges, summed up.
#[derive(Debug, Default)]
pub(super) struct AorReport {
    pub(super) exchanges: u64,
    pub(super) failed: u64,
    pub(super) first_ms: u64,
    pub(super) last_ms: u64,
    /// When the last exchange began.
    pub(super) last_start_ms: u64,
    /// (status, count), in the order first seen.
    pub(super) counts: Vec<(&'static str, u64)>,
    pub(super) head: Vec<Episode>,
    pub(super) tail: VecDeque<Episode>,
    /// Episodes (and their exchanges) between `head` and `tail`, not listed.
    pub(super) hidden_episodes: u64,
    pub(super) hidden_exchanges: u64,
}

impl AorReport {
    fn add(&mut self, ex: &Exchange) {
        let failed = ex.failed();
        if self.exchanges == 0 {
            self.first_ms = ex.start_ms;
        }
        self.exchanges += 1;
        self.failed += u64::from(failed);
        self.first_ms = self.first_ms.min(ex.start_ms);
        self.last_ms = self.last_ms.max(ex.end_ms);
        self.last_start_ms = self.last_start_ms.max(ex.start_ms);
        let st = status(ex);
        match self.counts.iter_mut().find(|(s, _)| *s == st) {
            Some((_, n)) => *n += 1,
            None => push_exact(&mut self.counts, (st, 1)),
        }
        let key = Key {
            status: st,
            ending: ex.ending,
            code: ex.code,
            challenge: ex.challenges.last().copied(),
            auth_user: ex.auth_user.clone(),
        };
        let last = if self.tail.is_empty() {
            self.head.last_mut()
        } else {
            self.tail.back_mut()
        };
        if let Some(e) = last.filter(|e| e.key == key) {
            e.count += 1;
            e.last_ms = ex.start_ms;
            e.retransmissions += u64::from(ex.retransmissions);
            e.capture_ended_after_ms = ex.capture_ended_after_ms;
            return;
        }
        let e = Episode {
            key,
            first_ms: ex.start_ms,
            last_ms: ex.start_ms,
            count: 1,
            retransmissions: u64::from(ex.retransmissions),
            failed,
            expires: ex.expires,
            granted: ex.granted(),
            reason: ex.reason.clone(),
            capture_ended_after_ms: ex.capture_ended_after_ms,
        };
        if self.head.len() < EPISODES_HEAD {
            push_exact(&mut self.head, e);
            return;
        }
        self.tail.push_back(e);
        if self.tail.len() > EPISODES_TAIL {
            if let Some(old) = self.tail.pop_front() {
                self.hidden_episodes += 1;
                self.hidden_exchanges += old.count;
            }
        }
    }

    /// The last episode.
    pub(super) fn last(&self) -> Option<&Episode> {
        self.tail.back().or(self.head.last())
    }

    /// The episodes listed, with the place of the hidden ones (after
    /// `head`).
    pub(super) fn episodes(&self) -> impl Iterator<Item = &Episode> {
        self.head.iter().chain(self.tail.iter())
    }
}

/// Messages left out of every exchange, per reason.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) total: u64,
    pub(super) reasons: Vec<(String, u64, Vec<Offset>)>,
}

impl Tally {
    pub(super) fn add(&mut self, reason: &str, at: Offset) {
        self.total += 1;
        let i = match self.reasons.iter().position(|(r, _, _)| r == reason) {
            Some(i) => i,
            None if self.reasons.len() < REASONS_KEPT => {
                self.reasons.push((reason.to_owned(), 0, Vec::new()));
                self.reasons.len() - 1
            }
            None => {
                if self.reasons.len() == REASONS_KEPT {
                    self.reasons
                        .push(("other reasons (more than 64 kinds)".into(), 0, Vec::new()));
                }
                self.reasons.len() - 1
            }
        };
        let (_, n, offsets) = &mut self.reasons[i];
        *n += 1;
        if offsets.len() < OFFSETS_KEPT {
            offsets.push(at);
        }
    }

    pub(super) fn json(&self) -> Value {
        let reasons: Vec<Value> = self
            .reasons
            .iter()
            .map(|(r, n, o)| {
                json!({
                    "reason": r,
                    "count": n,
                    "offsets": o.iter().map(|o| json!({o.kind(): o.number()})).collect::<Vec<_>>(),
                    "offsets_listed": format!("the first {} at most", OFFSETS_KEPT),
                })
            })
            .collect();
        json!({"count": self.total, "reasons": reasons})
    }
}

/// Every exchange of a file, as JSON lines in a temporary file (unlinked
/// at once on Unix; removed when dropped elsewhere).
pub(super) struct Spill {
    file: BufWriter<File>,
    path: std::path::PathBuf,
    pub(super) count: u64,
}

impl Spill {
    pub(super) fn new() -> io::Result<Spill> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "regwatch-analyze-{}-{}.json",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        #[cfg(unix)]
        let _ = std::fs::remove_file(&path);
        Ok(Spill {
            file: BufWriter::with_capacity(1 << 16, file),
            path,
            count: 0,
        })
    }

    fn put(&mut self, ex: &Exchange, offset_ms: u64) -> io::Result<()> {
        let v = exchange_json(ex, offset_ms);
        if self.count > 0 {
            self.file.write_all(b",\n        ")?;
        }
        serde_json::to_writer(&mut self.file, &v).map_err(io::Error::other)?;
        self.count += 1;
        Ok(())
    }

    /// Copies every exchange written to `out`.
    pub(super) fn copy_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.file.flush()?;
        let f = self.file.get_mut();
        f.rewind()?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            out.write_all(&buf[..n])?;
        }
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        #[cfg(not(unix))]
        let _ = std::fs::remove_file(&self.path);
        let _ = &self.path;
    }
}

/// One exchange as JSON (times from the capture's first message), keys
/// in alphabetical order; serialised straight from borrowed fields.
#[derive(serde::Serialize)]
struct ExchangeJson<'a> {
    aor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_user: Option<&'a str>,
    call_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    capture_ended_after_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<&'static str>,
    challenges: &'a [u16],
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    cseq: [u32; 2],
    end_ms: u64,
    ending: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<u32>,
    failed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    granted: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provisional: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    requests: u32,
    retransmissions: u32,
    start_ms: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<&'static str>,
}

fn exchange_json<'a>(ex: &'a Exchange, offset_ms: u64) -> ExchangeJson<'a> {
    let verdict = ex.outcome.map(|o| match o.verdict {
        Verdict::Deregistered => "deregistered",
        Verdict::Bound { .. } => "bound",
        Verdict::NotBound { .. } => "not_bound",
        Verdict::StaleNonce => "stale_nonce",
        Verdict::Challenged => "challenged",
        Verdict::Failed { .. } => "failed",
    });
    ExchangeJson {
        aor: &ex.aor,
        auth_user: ex.auth_user.as_deref(),
        call_id: &ex.call_id,
        capture_ended_after_ms: ex.capture_ended_after_ms,
        cause: ex.cause().map(|c| c.as_str()),
        challenges: &ex.challenges,
        code: ex.code,
        cseq: [ex.first_cseq, ex.cseq],
        end_ms: ex.end_ms.saturating_sub(offset_ms),
        ending: ex.ending.as_str(),
        expires: ex.expires,
        failed: ex.failed(),
        granted: ex.granted(),
        provisional: Some(ex.provisional).filter(|n| *n > 0),
        reason: Some(&*ex.reason).filter(|r| !r.is_empty() && ex.code.is_some()),
        requests: ex.requests,
        retransmissions: ex.retransmissions,
        start_ms: ex.start_ms.saturating_sub(offset_ms),
        status: status(ex),
        transport: ex.transport.map(|t| t.as_str()),
        verdict,
    }
}

/// A file's exchanges summed up, per AOR, and spilled for JSON.
pub(super) struct Report {
    /// Per AOR (the engine's trunk).
    pub(super) aors: HashMap<TrunkId, AorReport>,
    /// (status, count) for the whole file.
    pub(super) counts: Vec<(&'static str, u64)>,
    pub(super) exchanges: u64,
    pub(super) failed: u64,
    pub(super) spill: Option<Spill>,
    pub(super) spill_error: Option<String>,
}

impl Report {
    pub(super) fn new(json: bool) -> Report {
        let (spill, spill_error) = if json {
            match Spill::new() {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e.to_string())),
            }
        } else {
            (None, None)
        };
        Report {
            aors: HashMap::new(),
            counts: Vec::new(),
            exchanges: 0,
            failed: 0,
            spill,
            spill_error,
        }
    }

    /// Takes one closed exchange; `offset_ms` is the capture's first time.
    pub(super) fn add(&mut self, ex: &Exchange, offset_ms: u64) {
        self.exchanges += 1;
        self.failed += u64::from(ex.failed());
        let st = status(ex);
        match self.counts.iter_mut().find(|(s, _)| *s == st) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((st, 1)),
        }
        self.aors.entry(ex.trunk).or_default().add(ex);
        if let Some(s) = &mut self.spill {
            if let Err(e) = s.put(ex, offset_ms) {
                self.spill_error = Some(e.to_string());
                self.spill = None;
            }
        }
    }
}

/// Pushes, growing the allocation from one element and doubling (most
/// AORs of a large capture have one or two episodes: the default growth
/// would hold room for four).
fn push_exact<T>(v: &mut Vec<T>, x: T) {
    if v.len() == v.capacity() {
        v.reserve_exact(v.len().max(1));
    }
    v.push(x);
}
