//! Duration flags: parsing `5`, `500ms`, `1m30s`, `1.5s`, and rendering them back.

use std::time::Duration;

use thiserror::Error;

/// Why a duration flag could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DurationError {
    /// Nothing given.
    #[error("empty duration")]
    Empty,
    /// A number or unit could not be read.
    #[error("cannot read a duration from {0:?}")]
    Malformed(String),
    /// Unknown unit.
    #[error("unknown unit {0:?} (use ms, s, m or h)")]
    UnknownUnit(String),
    /// Too large to represent.
    #[error("duration too large")]
    Overflow,
}

/// Parses a duration: a plain number is seconds; otherwise one or more `<number><unit>` parts
/// (`500ms`, `2s`, `1m30s`, `1.5s`) with units ns, us, µs, ms, s, m, h.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| DurationError::Overflow);
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if num.is_empty() || unit.is_empty() {
            return Err(DurationError::Malformed(s.to_string()));
        }
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(DurationError::UnknownUnit(unit.to_string())),
        };
        total = total
            .checked_add(
                number_times(num, unit_nanos).ok_or_else(|| malformed_or_overflow(s, num))?,
            )
            .ok_or(DurationError::Overflow)?;
        rest = next;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    // The remainder is below 10^9 and fits.
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// `num` (digits with at most one '.') times `unit_nanos`, truncated to whole nanoseconds.
fn number_times(num: &str, unit_nanos: u128) -> Option<u128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let int_value: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut value = int_value.checked_mul(unit_nanos)?;
    // Digits past the nanosecond of the largest unit cannot matter.
    let mut scale = unit_nanos;
    for digit in frac.bytes().take(15) {
        scale /= 10;
        value = value.checked_add(u128::from(digit - b'0') * scale)?;
    }
    Some(value)
}

fn malformed_or_overflow(s: &str, num: &str) -> DurationError {
    let shape_ok = num.matches('.').count() <= 1 && num != ".";
    if shape_ok {
        DurationError::Overflow
    } else {
        DurationError::Malformed(s.to_string())
    }
}

/// Renders a duration in the syntax [`parse_duration`] reads, with the largest exact unit.
pub fn fmt_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    for (unit, size) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_parser() {
        let ok = [
            ("5", Duration::from_secs(5)),
            ("0", Duration::ZERO),
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("1m", Duration::from_secs(60)),
            ("1h", Duration::from_secs(3600)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5s", Duration::from_millis(1500)),
            (".5s", Duration::from_millis(500)),
            ("2.s", Duration::from_secs(2)),
            ("0.25m", Duration::from_secs(15)),
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("7ns", Duration::from_nanos(7)),
            ("1s500ms", Duration::from_millis(1500)),
            ("0.0000000001s", Duration::ZERO),
        ];
        for (s, d) in ok {
            assert_eq!(parse_duration(s), Ok(d), "{s}");
        }
        let err = [
            ("", DurationError::Empty),
            ("s", DurationError::Malformed("s".into())),
            ("5 s", DurationError::UnknownUnit(" s".into())),
            ("5x", DurationError::UnknownUnit("x".into())),
            ("5S", DurationError::UnknownUnit("S".into())),
            ("1.2.3s", DurationError::Malformed("1.2.3s".into())),
            (".s", DurationError::Malformed(".s".into())),
            ("-1s", DurationError::Malformed("-1s".into())),
            ("1s5", DurationError::Malformed("1s5".into())),
            ("99999999999999999999", DurationError::Overflow),
            ("99999999999999999999h", DurationError::Overflow),
        ];
        for (s, e) in err {
            assert_eq!(parse_duration(s), Err(e), "{s:?}");
        }
    }

    #[test]
    fn duration_formatting_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_millis(1500),
            Duration::from_secs(90),
            Duration::from_secs(7200),
            Duration::from_nanos(1_000_000_001),
            Duration::from_micros(3),
        ] {
            assert_eq!(parse_duration(&fmt_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(fmt_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(fmt_duration(Duration::from_secs(90)), "90s");
        assert_eq!(fmt_duration(Duration::from_secs(120)), "2m");
    }
}
