//! The API's many ways of writing a time, normalised to UTC.
//!
//! The documentation promises `YYYY-MM-DD HH:MM:SS` but also writes `H:m:s`, so the reader is
//! a small hand-written scanner rather than a list of `strftime` patterns: one pass, no
//! allocation, and every accepted form is spelled out in [`normalize`].

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

/// Reads a timestamp as docs/upstream-api.md lists; `None` when it cannot be understood.
///
/// Accepted (surrounding whitespace ignored):
/// - `YYYY-MM-DD HH:MM:SS`, with month, day and time fields padded or not;
/// - `T` (or `t`) instead of the space, and `HH:MM` without seconds;
/// - fractional seconds after `.` or `,` (dropped: the database keeps second precision);
/// - a zone after the time: `Z`, `UTC`, `+HH:MM`, `+HHMM` or `+HH` (converted to UTC);
/// - a bare date, read as midnight.
///
/// A time without a zone is taken as UTC, because that is what the database stores.
/// A leap second (`23:59:60`) is read as the second before it. A time that falls outside
/// the years 0001-9999 once in UTC is refused: the database keeps times as text that sorts
/// like time, which a fifth year digit or a minus sign would break.
pub fn normalize(text: &str) -> Option<NaiveDateTime> {
    let bytes = text.trim().as_bytes();
    let read = match canonical(bytes) {
        Some(canonical) => canonical,
        None => Scanner { bytes, pos: 0 }.datetime(),
    };
    read.filter(|t| (1..=9999).contains(&t.year()))
}

/// A clock time; second 60 (a leap second) becomes 59.
fn clock(hour: u32, minute: u32, second: u32) -> Option<NaiveTime> {
    NaiveTime::from_hms_opt(hour, minute, if second == 60 { 59 } else { second })
}

/// The padded `YYYY-MM-DD HH:MM:SS` form that nearly every record uses, read by position.
///
/// The outer `None` means "not this shape, try the general reader"; the inner one is an
/// impossible date or time written in this shape (say `2024-02-30`), which no other reading
/// could rescue.
fn canonical(b: &[u8]) -> Option<Option<NaiveDateTime>> {
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = fixed(b, 0, 4)?;
    let month = fixed(b, 5, 2)?;
    let day = fixed(b, 8, 2)?;
    let hour = fixed(b, 11, 2)?;
    let minute = fixed(b, 14, 2)?;
    let second = fixed(b, 17, 2)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day);
    let time = clock(hour, minute, second);
    Some(date.zip(time).map(|(d, t)| d.and_time(t)))
}

/// The number written by exactly `len` ASCII digits at `start`.
fn fixed(b: &[u8], start: usize, len: usize) -> Option<u32> {
    let digits = b.get(start..start + len)?;
    digits.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// A cursor over the trimmed text for the forms the fast path does not cover.
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn datetime(mut self) -> Option<NaiveDateTime> {
        let year = self.digits(4, 4)?;
        self.expect(b'-')?;
        let month = self.digits(1, 2)?;
        self.expect(b'-')?;
        let day = self.digits(1, 2)?;
        let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
        if self.at_end() {
            return Some(date.and_time(NaiveTime::MIN));
        }
        match self.bump()? {
            b'T' | b't' => {}
            b' ' => self.skip_spaces(),
            _ => return None,
        }
        let time = self.time()?;
        self.skip_spaces();
        let offset = self.offset_seconds()?;
        if !self.at_end() {
            return None;
        }
        date.and_time(time)
            .checked_sub_signed(TimeDelta::seconds(offset))
    }

    /// `H:M`, `H:M:S` or `H:M:S.fff`, fields padded or not; the fraction is dropped.
    fn time(&mut self) -> Option<NaiveTime> {
        let hour = self.digits(1, 2)?;
        self.expect(b':')?;
        let minute = self.digits(1, 2)?;
        let mut second = 0;
        if self.eat(b':') {
            second = self.digits(1, 2)?;
            if self.eat(b'.') || self.eat(b',') {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                if self.pos == start {
                    return None;
                }
            }
        }
        clock(hour, minute, second)
    }

    /// The zone's offset east of UTC in seconds; no zone at all means UTC.
    fn offset_seconds(&mut self) -> Option<i64> {
        let sign = match self.peek() {
            None => return Some(0),
            Some(b'Z' | b'z') => {
                self.pos += 1;
                return Some(0);
            }
            Some(b'U' | b'u') => {
                let rest = self.bytes.get(self.pos..)?;
                self.pos = self.bytes.len();
                return rest.eq_ignore_ascii_case(b"UTC").then_some(0);
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            Some(_) => return None,
        };
        self.pos += 1;
        let hours = self.digits(2, 2)?;
        let minutes = if self.at_end() {
            0
        } else {
            self.eat(b':');
            self.digits(2, 2)?
        };
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * i64::from(hours * 3600 + minutes * 60))
    }

    /// Between `min` and `max` ASCII digits, as a number; `None` when fewer than `min`.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let mut value = 0u32;
        let mut count = 0;
        while count < max {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    value = value * 10 + u32::from(c - b'0');
                    self.pos += 1;
                    count += 1;
                }
                _ => break,
            }
        }
        (count >= min).then_some(value)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn eat(&mut self, wanted: u8) -> bool {
        let found = self.peek() == Some(wanted);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, wanted: u8) -> Option<()> {
        self.eat(wanted).then_some(())
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use chrono::NaiveDateTime;

    #[test]
    fn a_leap_second_is_read_as_the_second_before_it() {
        assert_eq!(
            normalize("2016-12-31 23:59:60"),
            Some(at("2016-12-31 23:59:59"))
        );
        assert_eq!(
            normalize("2016-12-31T23:59:60Z"),
            Some(at("2016-12-31 23:59:59"))
        );
        assert_eq!(normalize("2016-12-31 23:59:61"), None);
    }

    #[test]
    fn times_outside_the_years_0001_to_9999_in_utc_are_refused() {
        assert_eq!(normalize("9999-12-31T23:00:00-05:00"), None);
        assert_eq!(normalize("0001-01-01T01:00:00+02:00"), None);
        assert_eq!(normalize("0000-06-01 00:00:00"), None);
        assert_eq!(
            normalize("9999-12-31 23:59:59"),
            Some(at("9999-12-31 23:59:59"))
        );
    }

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn canonical_timestamp_is_read_as_is() {
        assert_eq!(
            normalize("2024-08-04 08:23:45"),
            Some(at("2024-08-04 08:23:45"))
        );
    }

    #[test]
    fn unpadded_timestamp_is_normalised() {
        assert_eq!(normalize("2024-8-4 8:3:5"), Some(at("2024-08-04 08:03:05")));
    }

    #[test]
    fn iso_t_separator_is_accepted() {
        assert_eq!(
            normalize("2024-08-04T08:23:45"),
            Some(at("2024-08-04 08:23:45"))
        );
    }

    #[test]
    fn z_suffix_means_utc() {
        assert_eq!(
            normalize("2024-08-04T08:23:45Z"),
            Some(at("2024-08-04 08:23:45"))
        );
    }

    #[test]
    fn utc_word_suffix_means_utc() {
        assert_eq!(
            normalize("2024-08-04 08:23:45 UTC"),
            Some(at("2024-08-04 08:23:45"))
        );
    }

    #[test]
    fn offset_is_converted_to_utc() {
        assert_eq!(
            normalize("2024-08-04T08:23:45+02:00"),
            Some(at("2024-08-04 06:23:45"))
        );
    }

    #[test]
    fn compact_offset_is_converted_to_utc() {
        assert_eq!(
            normalize("2024-08-04T08:23:45+0200"),
            Some(at("2024-08-04 06:23:45"))
        );
    }

    #[test]
    fn hour_only_offset_is_converted_to_utc() {
        assert_eq!(
            normalize("2024-08-04T08:23:45+02"),
            Some(at("2024-08-04 06:23:45"))
        );
    }

    #[test]
    fn negative_offset_can_move_to_the_next_day() {
        assert_eq!(
            normalize("2024-12-31T23:30:00-05:30"),
            Some(at("2025-01-01 05:00:00"))
        );
    }

    #[test]
    fn fractional_seconds_are_dropped() {
        assert_eq!(
            normalize("2024-08-04T08:23:45.987654Z"),
            Some(at("2024-08-04 08:23:45"))
        );
    }

    #[test]
    fn bare_date_is_midnight() {
        assert_eq!(normalize("2024-08-04"), Some(at("2024-08-04 00:00:00")));
    }

    #[test]
    fn minutes_without_seconds_are_accepted() {
        assert_eq!(
            normalize("2024-08-04 08:23"),
            Some(at("2024-08-04 08:23:00"))
        );
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(
            normalize("  2024-08-04 08:23:45\n"),
            Some(at("2024-08-04 08:23:45"))
        );
    }

    #[test]
    fn impossible_date_is_rejected() {
        assert_eq!(normalize("2024-02-30 00:00:00"), None);
        assert_eq!(normalize("2024-2-30"), None);
    }

    #[test]
    fn mysql_zero_date_is_rejected() {
        assert_eq!(normalize("0000-00-00 00:00:00"), None);
    }

    #[test]
    fn impossible_time_is_rejected() {
        assert_eq!(normalize("2024-08-04 24:00:00"), None);
        assert_eq!(normalize("2024-08-04 08:60:00"), None);
    }

    #[test]
    fn empty_and_blank_text_is_rejected() {
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("   "), None);
    }

    #[test]
    fn garbage_is_rejected() {
        for text in [
            "yesterday",
            "2024",
            "2024-08",
            "24-08-04",
            "2024-08-04T",
            "2024-08-04 08",
            "2024-08-04 08:23:45.",
            "2024-08-04 08:23:45 +2",
            "2024-08-04 08:23:45+25:00",
            "2024-08-04 08:23:45 junk",
            "2024/08/04 08:23:45",
            "2024-08-04 08:23:45Zjunk",
            "２０２４-08-04",
        ] {
            assert_eq!(normalize(text), None, "{text}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = fastrand::Rng::with_seed(7);
        let alphabet = b"0123456789-: T.Z+zU";
        for _ in 0..20_000 {
            let len = rng.usize(0..30);
            let text: String = (0..len)
                .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
                .collect();
            let _ = normalize(&text);
        }
    }
}
