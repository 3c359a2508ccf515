//! Wall-clock time as Unix milliseconds, and its RFC 3339 rendering.
//!
//! Omni stores every time as a BIGINT of Unix milliseconds, because Spin's
//! MySQL interface cannot read DATETIME or TIMESTAMP columns.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, read from the host's wall clock.
pub fn now_ms() -> i64 {
    // A clock before 1970 is a broken host; treat it as the epoch rather than
    // failing the request.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Renders Unix milliseconds as an RFC 3339 UTC timestamp with milliseconds,
/// e.g. `2026-11-22T05:00:00.123Z`.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (second, milli) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day),
/// after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_unix_epoch() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn renders_the_omni_epoch() {
        assert_eq!(rfc3339_ms(1_735_689_600_000), "2025-01-01T00:00:00.000Z");
    }

    #[test]
    fn renders_milliseconds_and_a_leap_day() {
        // 2028-02-29T23:59:59.999Z
        assert_eq!(rfc3339_ms(1_835_481_599_999), "2028-02-29T23:59:59.999Z");
    }

    #[test]
    fn renders_the_last_day_of_a_year() {
        assert_eq!(rfc3339_ms(1_798_761_599_000), "2026-12-31T23:59:59.000Z");
    }

    #[test]
    fn now_is_after_the_omni_epoch() {
        assert!(now_ms() > 1_735_689_600_000);
    }
}
