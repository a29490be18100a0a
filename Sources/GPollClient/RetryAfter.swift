import Foundation

/// The `Retry-After` header (RFC 9110 section 10.2.3), which CL-17 requires a
/// client to accept in both forms: delay-seconds, or an HTTP-date.
enum RetryAfter {
    /// The delay the value asks for, measured from `now`; nil when it is neither form.
    /// A date in the past asks for no delay.
    static func delay(_ value: String, now: Date = Date()) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            // A huge number of seconds is still a (capped) wait, not an unreadable value.
            return .seconds(Int64(text) ?? Int64.max / 1_000_000_000_000)
        }
        guard let date = httpDate(text) else { return nil }
        let seconds = date.timeIntervalSince(now)
        // HTTP-dates have whole seconds: round up, so that the wait never ends before the date.
        return seconds > 0 ? .seconds(seconds.rounded(.up)) : .zero
    }

    /// IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must accept (RFC 9110 section 5.6.7).
    static func httpDate(_ text: String) -> Date? {
        for format in ["EEE, dd MMM yyyy HH:mm:ss 'GMT'", "EEEE, dd-MMM-yy HH:mm:ss 'GMT'", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")) {
                return date
            }
        }
        return nil
    }
}
