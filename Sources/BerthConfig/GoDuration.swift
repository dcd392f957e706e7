/// Durations written as the ECS agent reads them, with Go's `time.ParseDuration` syntax:
/// a sequence of decimal numbers each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), such as
/// `30s`, `1h30m`, `1.5h` or `500ms`, with an optional sign; a bare `0` is allowed.
public enum GoDuration {
    private static let units: [(suffix: String, nanoseconds: Int64)] = [
        // Longest suffixes first so that "ms" is not read as "m" followed by "s".
        ("ns", 1), ("us", 1_000), ("µs", 1_000), ("μs", 1_000), ("ms", 1_000_000),
        ("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
    ]

    /// Parses `text`, or returns nil when it is not a Go duration (a bare number without a unit included).
    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text)
        var sign: Int64 = 1
        if let first = rest.first, first == "+" || first == "-" {
            sign = first == "-" ? -1 : 1
            rest = rest.dropFirst()
        }
        if rest == "0" { return .zero }
        guard !rest.isEmpty else { return nil }

        var total: Int64 = 0
        while !rest.isEmpty {
            let whole = rest.prefix(while: { $0.isASCII && $0.isNumber })
            rest = rest.dropFirst(whole.count)
            var fraction: Substring = ""
            if rest.first == "." {
                rest = rest.dropFirst()
                fraction = rest.prefix(while: { $0.isASCII && $0.isNumber })
                rest = rest.dropFirst(fraction.count)
            }
            guard !whole.isEmpty || !fraction.isEmpty else { return nil }
            guard let unit = units.first(where: { rest.hasPrefix($0.suffix) }) else { return nil }
            rest = rest.dropFirst(unit.suffix.count)
            guard let amount = nanoseconds(whole: whole, fraction: fraction, unit: unit.nanoseconds) else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(amount)
            guard !overflow else { return nil }
            total = sum
        }
        return .nanoseconds(sign * total)
    }

    /// Formats a duration compactly in the same syntax: `30s`, `3h`, `1h30m`, `1m0.5s` becomes `1m500ms`.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if seconds == 0 && attoseconds == 0 { return "0s" }
        if seconds < 0 || attoseconds < 0 { return "-" + format(.zero - duration) }
        var text = ""
        let hours = seconds / 3600
        let minutes = (seconds % 3600) / 60
        let secs = seconds % 60
        if hours > 0 { text += "\(hours)h" }
        if minutes > 0 { text += "\(minutes)m" }
        if secs > 0 { text += "\(secs)s" }
        let nanoseconds = attoseconds / 1_000_000_000
        if nanoseconds > 0 {
            text += nanoseconds % 1_000_000 == 0 ? "\(nanoseconds / 1_000_000)ms" : "\(nanoseconds)ns"
        }
        return text
    }

    private static func nanoseconds(whole: Substring, fraction: Substring, unit: Int64) -> Int64? {
        var value: Int64 = 0
        if !whole.isEmpty {
            guard let number = Int64(whole) else { return nil }
            let (product, overflow) = number.multipliedReportingOverflow(by: unit)
            guard !overflow else { return nil }
            value = product
        }
        // Add the fraction digit by digit; digits below a nanosecond are dropped, as Go does.
        var scale = unit
        for digit in fraction {
            scale /= 10
            guard scale > 0, let digitValue = digit.wholeNumberValue else { break }
            value += Int64(digitValue) * scale
        }
        return value
    }
}
