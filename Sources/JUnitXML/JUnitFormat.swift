import Foundation

/// Locale-independent formatting of the numbers and dates JUnit XML needs.
public enum JUnitFormat {
    /// The largest duration written, in seconds (about 31.7 million years);
    /// larger and infinite values are capped to it.
    public static let maximumSeconds: Double = 999_999_999_999_999 // < 2^53: exact

    /// Formats a duration in seconds with `.` as decimal separator and exactly
    /// three decimals, never an exponent, never negative: `1.5` → `"1.500"`.
    /// Negative and NaN values become `"0.000"`; values above
    /// ``maximumSeconds`` (including +infinity) are capped.
    public static func seconds(_ value: Double) -> String {
        var v = value
        if v.isNaN || v < 0 { v = 0 }
        if v > maximumSeconds { v = maximumSeconds }
        // Split first: v * 1000 would lose the last digits for large values.
        var whole = UInt64(v.rounded(.down))
        var frac = UInt64(((v - v.rounded(.down)) * 1000).rounded(.toNearestOrAwayFromZero))
        if frac >= 1000 { whole += 1; frac -= 1000 }
        let fracText = String(frac)
        return "\(whole)." + String(repeating: "0", count: 3 - fracText.count) + fracText
    }

    /// Formats a date in UTC as `YYYY-MM-DDTHH:MM:SS` (no fraction, no zone),
    /// as the Ant schema requires. Fractions of a second are dropped; dates
    /// outside 0001-01-01T00:00:00 ... 9999-12-31T23:59:59 are clamped to that
    /// range and a NaN date is written as the Unix epoch.
    public static func timestamp(_ date: Date) -> String {
        var t = date.timeIntervalSince1970
        if t.isNaN { t = 0 }
        t = min(max(t, -62_135_596_800), 253_402_300_799)
        var seconds = Int64(t.rounded(.down))
        var days = seconds / 86_400
        seconds -= days * 86_400
        if seconds < 0 { seconds += 86_400; days -= 1 }
        let (y, m, d) = civilFromDays(days)
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T"
            + pad(seconds / 3600, 2) + ":" + pad(seconds / 60 % 60, 2) + ":" + pad(seconds % 60, 2)
    }

    /// Days since 1970-01-01 to a proleptic Gregorian (year, month, day);
    /// Howard Hinnant's `civil_from_days`.
    private static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (y, m, d)
    }

    private static func pad(_ n: Int64, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
