//! SIP Timer E (RFC 3261 §17.1.2.2), the retransmission schedule of a
//! non-INVITE request over UDP: the first wait is T1 (500 ms), each next
//! one doubles, at most T2 (4 s): 0.5, 1, 2, 4, 4, 4... seconds. The
//! request stops being sent when its deadline (Timer F, or the caller's
//! own) passes; that is the caller's clock, not this schedule's.
//!
//! Pure: it says how long to wait, the caller reads the clock and sends.
use std::time::Duration;

/// RFC 3261's T1, the round-trip estimate: the first retransmission wait.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261's T2, the longest wait between retransmissions.
pub const T2: Duration = Duration::from_secs(4);

/// Where a request is in its Timer E schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerE {
    next: Duration,
}

impl Default for TimerE {
    fn default() -> Self {
        TimerE::new()
    }
}

impl TimerE {
    /// A request not sent yet.
    pub const fn new() -> TimerE {
        TimerE { next: T1 }
    }

    /// Call once per send (the first one and each retransmission): how
    /// long to wait from that send before the next retransmission.
    pub fn after_send(&mut self) -> Duration {
        let wait = self.next;
        self.next = (wait * 2).min(T2);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_t1_up_to_t2() {
        let mut t = TimerE::new();
        let waits: Vec<u64> = (0..8).map(|_| t.after_send().as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000]);
        assert_eq!(TimerE::default(), TimerE::new());
    }

    #[test]
    fn sends_within_timer_f() {
        // Within Timer F (64×T1 = 32 s) a request is sent 11 times: at 0,
        // 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5 s.
        let mut t = TimerE::new();
        let mut at = Duration::ZERO;
        let mut sends = Vec::new();
        while at < T1 * 64 {
            sends.push(at.as_millis() as u64);
            at += t.after_send();
        }
        assert_eq!(
            sends,
            [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
    }
}
