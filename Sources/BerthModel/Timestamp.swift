/// An instant as ECS writes it on the wire: seconds since the Unix epoch, with a fraction.
///
/// The model depends on nothing, Foundation included, so this stands in for `Date`.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let secondsSinceEpoch: Double

    public init(secondsSinceEpoch: Double) {
        self.secondsSinceEpoch = secondsSinceEpoch
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.secondsSinceEpoch < rhs.secondsSinceEpoch }

    /// The instant `duration` later.
    public func adding(_ duration: Duration) -> Timestamp {
        let (seconds, attoseconds) = duration.components
        return Timestamp(secondsSinceEpoch: secondsSinceEpoch + Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// How long after `earlier` this is (negative when it is before), saturating at about ±292 million
    /// years rather than trapping on instants no clock gives.
    public func duration(since earlier: Timestamp) -> Duration {
        let milliseconds = ((secondsSinceEpoch - earlier.secondsSinceEpoch) * 1000).rounded()
        guard !milliseconds.isNaN else { return .zero }
        let limit = 9.2e18
        return .milliseconds(Int64(min(max(milliseconds, -limit), limit)))
    }

    public init(from decoder: any Decoder) throws {
        secondsSinceEpoch = try decoder.singleValueContainer().decode(Double.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(secondsSinceEpoch)
    }

    public var description: String { "\(secondsSinceEpoch)" }
}
