//! [`Level`]: where one reading stands against the thresholds, with
//! hysteresis, so a value hovering at a threshold raises one alert, not one
//! per sample.

use stockade_spec::Thresholds;

/// The alert level of one resource of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Below the thresholds (or back below `clear`).
    Normal,
    /// At or above `warning`.
    Warning,
    /// At or above `critical`.
    Critical,
}

impl Level {
    /// The level after reading `percent`. Going up takes the threshold
    /// itself; coming down takes the threshold minus the hysteresis band
    /// (`warning - clear`), for critical as for warning.
    pub(crate) fn next(self, percent: f64, t: &Thresholds) -> Level {
        let band = t.warning - t.clear;
        match self {
            _ if percent >= t.critical => Level::Critical,
            Level::Normal if percent >= t.warning => Level::Warning,
            Level::Normal => Level::Normal,
            _ if percent < t.clear => Level::Normal,
            Level::Critical if percent >= t.critical - band => Level::Critical,
            Level::Warning | Level::Critical => Level::Warning,
        }
    }

    /// The `level` of the alert event announcing a move to `self`.
    pub(crate) fn event_name(self) -> &'static str {
        match self {
            Level::Normal => "cleared",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Level::{self, Critical, Normal, Warning};
    use stockade_spec::Thresholds;

    const T: Thresholds = Thresholds { warning: 80.0, critical: 95.0, clear: 70.0 };

    fn walk(readings: &[f64]) -> Vec<Level> {
        let mut level = Normal;
        readings
            .iter()
            .map(|r| {
                level = level.next(*r, &T);
                level
            })
            .collect()
    }

    #[test]
    fn every_move_of_the_table() {
        let cases = [
            (Normal, 10.0, Normal),
            (Normal, 80.0, Warning),
            (Normal, 95.0, Critical),
            (Warning, 75.0, Warning),
            (Warning, 69.9, Normal),
            (Warning, 99.0, Critical),
            (Critical, 90.0, Critical),
            (Critical, 84.9, Warning),
            (Critical, 50.0, Normal),
        ];
        for (from, reading, to) in cases {
            assert_eq!(from.next(reading, &T), to, "{from:?} reading {reading}");
        }
    }

    #[test]
    fn a_value_hovering_at_the_threshold_changes_level_once() {
        let levels = walk(&[79.0, 81.0, 79.5, 80.5, 78.0, 81.0, 71.0, 82.0]);
        let changes = levels[1..].windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(levels[1], Warning);
        assert_eq!(changes, 0, "{levels:?}");
        assert_eq!(walk(&[85.0, 69.0, 85.0]), [Warning, Normal, Warning]);
    }
}
