//! Sizes and durations for humans, as the `version.humanized_*` template variables show them.

use chrono::TimeDelta;

const SIZE_UNITS: [&str; 7] = ["Bytes", "KB", "MB", "GB", "TB", "PB", "EB"];
const SIGNIFICANT_DIGITS: u32 = 3;

/// A byte count the way Rails' `number_to_human_size` writes it (PatchKit's receivers have seen
/// these strings for years): base 1024, three significant digits rounded half up, trailing zeros
/// dropped. `1 Byte`, `500 Bytes`, `1.21 KB`, `12.1 KB`, `1020 KB`.
///
/// Rails picks the unit from a floating-point logarithm; here the unit is picked exactly, so the
/// only difference is that exact powers of 1024 that Rails' float math lands just below (it can
/// print `1024 TB`) come out as the next unit (`1 PB`).
#[must_use]
pub fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        let unit = if bytes == 1 { "Byte" } else { "Bytes" };
        return format!("{bytes} {unit}");
    }
    let mut exponent = 0;
    let mut divisor: u128 = 1;
    while exponent + 1 < SIZE_UNITS.len() && u128::from(bytes) >= divisor * 1024 {
        divisor *= 1024;
        exponent += 1;
    }
    let unit = SIZE_UNITS[exponent];
    let bytes = u128::from(bytes);
    // The value is bytes / divisor, in [1, 1024): one to four integer digits.
    let integer_digits = (bytes / divisor).ilog10() + 1;
    if integer_digits > SIGNIFICANT_DIGITS {
        // 1000..1023.x: three significant digits means rounding to tens.
        let tens = div_round_half_up(bytes, divisor * 10);
        return format!("{} {unit}", tens * 10);
    }
    let decimals = SIGNIFICANT_DIGITS - integer_digits;
    let scale = 10u128.pow(decimals);
    let scaled = div_round_half_up(bytes * scale, divisor);
    format!("{} {unit}", strip_zeros(scaled, scale, decimals))
}

fn div_round_half_up(numerator: u128, denominator: u128) -> u128 {
    (numerator + denominator / 2) / denominator
}

/// `scaled / scale` in decimal with the insignificant trailing zeros (and a bare point) removed.
fn strip_zeros(scaled: u128, scale: u128, decimals: u32) -> String {
    let integer = scaled / scale;
    let fraction = scaled % scale;
    if fraction == 0 {
        return integer.to_string();
    }
    let fraction = format!("{fraction:0width$}", width = decimals as usize);
    format!("{integer}.{}", fraction.trim_end_matches('0'))
}

/// The two largest non-zero units among days, hours, minutes and seconds: `45s`, `3m 20s`,
/// `1h 5m`, `2d 4h`. Zero is `0s`; a negative duration (clocks that disagree) is empty rather
/// than a misleading number. Sub-second parts are dropped.
#[must_use]
pub fn human_duration(duration: TimeDelta) -> String {
    if duration < TimeDelta::zero() {
        return String::new();
    }
    let total = duration.num_seconds().unsigned_abs();
    let parts =
        [(total / 86_400, "d"), (total % 86_400 / 3_600, "h"), (total % 3_600 / 60, "m"), (total % 60, "s")];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(amount, _)| *amount > 0)
        .take(2)
        .map(|(amount, unit)| format!("{amount}{unit}"))
        .collect();
    if shown.is_empty() { "0s".to_owned() } else { shown.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_rails() {
        let table: &[(u64, &str)] = &[
            (0, "0 Bytes"),
            (1, "1 Byte"),
            (2, "2 Bytes"),
            (500, "500 Bytes"),
            (1023, "1023 Bytes"),
            (1024, "1 KB"),
            (1152, "1.13 KB"), // exactly 1.125: half rounds up
            (1234, "1.21 KB"),
            (10_240, "10 KB"),
            (12_345, "12.1 KB"),
            (102_400, "100 KB"),
            (1_022_976, "999 KB"),
            (1_023_488, "1000 KB"), // 999.5 KB rounds up into four digits
            (1_047_552, "1020 KB"), // 1023 KB
            (1_048_575, "1020 KB"), // 1023.999 KB stays in KB, as in Rails
            (1_048_576, "1 MB"),
            (1_234_567, "1.18 MB"),
            (123_456_789, "118 MB"),
            (1_234_567_890, "1.15 GB"),
            (1 << 40, "1 TB"),
            (1 << 50, "1 PB"),
            (1 << 60, "1 EB"),
            (u64::MAX, "16 EB"),
        ];
        for &(bytes, expected) in table {
            assert_eq!(human_size(bytes), expected, "{bytes} bytes");
        }
    }

    #[test]
    fn rounding_can_carry_into_a_new_integer_digit() {
        // 9.996 KB → 10.0 → "10", not "10.0" or "9.10".
        assert_eq!(human_size(10_236), "10 KB");
        // 99.96 KB → 100.
        assert_eq!(human_size(102_359), "100 KB");
    }

    #[test]
    fn durations() {
        let table: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1s"),
            (45, "45s"),
            (60, "1m"),
            (200, "3m 20s"),
            (3_600, "1h"),
            (3_900, "1h 5m"),
            (3_930, "1h 5m"),
            (3_630, "1h 30s"),
            (86_400, "1d"),
            (187_200, "2d 4h"),
            (86_401, "1d 1s"),
        ];
        for &(secs, expected) in table {
            assert_eq!(human_duration(TimeDelta::seconds(secs)), expected, "{secs} s");
        }
    }

    #[test]
    fn sub_second_and_negative_durations() {
        assert_eq!(human_duration(TimeDelta::milliseconds(999)), "0s");
        assert_eq!(human_duration(TimeDelta::milliseconds(61_500)), "1m 1s");
        assert_eq!(human_duration(TimeDelta::seconds(-1)), "");
        assert_eq!(human_duration(TimeDelta::milliseconds(-1)), "");
        assert_eq!(human_duration(TimeDelta::MIN), "");
        assert_eq!(human_duration(TimeDelta::MAX), "106751991167d 7h");
    }
}
