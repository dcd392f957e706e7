/// An inclusive range of host ports, written `start-end` as in `ECS_DYNAMIC_HOST_PORT_RANGE`.
public struct PortRange: Sendable, Hashable, CustomStringConvertible {
    public let start: UInt16
    public let end: UInt16

    /// Creates a range; ports are 1–65535 and `start` may not exceed `end`.
    public init(start: UInt16, end: UInt16) throws(ModelError) {
        guard start >= 1 else { throw ModelError(.outOfRange, "port 0 is not a usable port") }
        guard start <= end else {
            throw ModelError(.invalidValue, "the range starts at \(start), after its end \(end)")
        }
        self.start = start
        self.end = end
    }

    /// Parses `start-end` (spaces around the numbers and the dash are allowed).
    public init(parsing text: some StringProtocol) throws(ModelError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2,
            let start = Self.port(parts[0]),
            let end = Self.port(parts[1])
        else {
            throw ModelError(.invalidValue, "expected two ports 1-65535 written start-end, such as 32768-60999")
        }
        try self.init(start: start, end: end)
    }

    public var count: Int { Int(end) - Int(start) + 1 }

    public func contains(_ port: UInt16) -> Bool { port >= start && port <= end }

    public var description: String { "\(start)-\(end)" }

    private static func port(_ text: some StringProtocol) -> UInt16? {
        let trimmed = text.trimmingASCIIWhitespace()
        guard let value = UInt16(trimmed), value >= 1 else { return nil }
        return value
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs, carriage returns and newlines.
    ///
    /// Written here because the model depends on nothing, Foundation included.
    package func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        let string = Substring(self)
        guard let first = string.firstIndex(where: { !isSpace($0) }),
            let last = string.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return string[first...last]
    }
}
