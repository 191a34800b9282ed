//! Times as the screens show them. The model never reads a clock: times come
//! in with actions (`Tick`, poll rounds) so rendering is deterministic.

/// `YYYY-MM-DD HH:MM:SS` in UTC for a time in ms since the Unix epoch.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `HH:MM:SS` (UTC) for a time in ms since the Unix epoch.
pub fn clock(ms: u64) -> String {
    let secs = ms / 1000 % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A short duration: `350ms`, `4.2s`, `3m 05s`, `2h 04m`, `3d 04h`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600)
    }
}

/// `3m 05s ago` (or `in the future` when the clocks disagree).
pub fn ago(now_ms: u64, then_ms: i64) -> String {
    if then_ms < 0 || now_ms as i64 <= 0 {
        return String::new();
    }
    match (now_ms as i64).checked_sub(then_ms) {
        Some(d) if d >= 0 => format!("{} ago", duration(d as u64)),
        _ => "in the future".to_string(),
    }
}

/// Howard Hinnant's days-from-civil inverse: days since 1970-01-01 → (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13:20");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(clock(1_700_000_000_000), "22:13:20");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(350), "350ms");
        assert_eq!(duration(4_200), "4.2s");
        assert_eq!(duration(185_000), "3m 05s");
        assert_eq!(duration(7_440_000), "2h 04m");
        assert_eq!(ago(10_000, 4_000), "6.0s ago");
        assert_eq!(ago(10_000, 0), "10.0s ago");
        assert_eq!(ago(1_000, 4_000), "in the future");
    }
}
