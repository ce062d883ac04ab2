//! [`Pacer`]: coalesce redraws. However many changes arrive, the screen is
//! drawn at most once per frame: a change arms one redraw at the earliest
//! moment a frame allows, and changes until then ride along with it.

use std::time::{Duration, Instant};

/// When the next redraw may happen.
#[derive(Debug)]
pub struct Pacer {
    frame: Duration,
    last: Option<Instant>,
}

impl Pacer {
    /// At most one draw per `frame`.
    pub fn new(frame: Duration) -> Pacer {
        Pacer { frame, last: None }
    }

    /// Something changed at `now`: when to draw it.
    pub fn next(&self, now: Instant) -> Instant {
        match self.last {
            Some(last) if last + self.frame > now => last + self.frame,
            _ => now,
        }
    }

    /// A draw happened at `now`.
    pub fn drew(&mut self, now: Instant) {
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thousand events in one second, each arming a redraw the way the
    /// view's loop does: at most one draw per 100 ms frame.
    #[test]
    fn a_burst_of_events_draws_at_most_once_per_frame() {
        let start = Instant::now();
        let mut pacer = Pacer::new(Duration::from_millis(100));
        let mut armed: Option<Instant> = None;
        let mut draws = Vec::new();
        for ms in 0..1000u64 {
            let now = start + Duration::from_millis(ms);
            if let Some(at) = armed.filter(|at| *at <= now) {
                pacer.drew(at);
                draws.push(at);
                armed = None;
            }
            if armed.is_none() {
                armed = Some(pacer.next(now));
            }
        }
        assert!(draws.len() <= 11, "{} draws in one second", draws.len());
        assert!(draws.len() >= 9, "a busy second still redraws every frame: {}", draws.len());
        for pair in draws.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(100), "{pair:?}");
        }
    }

    #[test]
    fn a_lone_change_after_a_quiet_while_draws_at_once() {
        let start = Instant::now();
        let mut pacer = Pacer::new(Duration::from_millis(100));
        pacer.drew(start);
        let later = start + Duration::from_secs(5);
        assert_eq!(pacer.next(later), later);
        assert_eq!(
            pacer.next(start + Duration::from_millis(30)),
            start + Duration::from_millis(100)
        );
    }
}
