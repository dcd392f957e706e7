/// A container port and its protocol, written `80/tcp` as Docker keys ports (`ExposedPorts`, `PortBindings`).
public struct ContainerPort: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let number: UInt16
    /// `tcp`, `udp` or `sctp`.
    public let transport: String

    public init(_ number: UInt16, _ transport: String = "tcp") {
        self.number = number
        self.transport = transport
    }

    /// Parses `80/tcp`, or `80` meaning tcp.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let number = UInt16(parts[0]) else { return nil }
        self.init(number, parts.count == 2 ? String(parts[1]) : "tcp")
    }

    public var description: String { "\(number)/\(transport)" }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.number, lhs.transport) < (rhs.number, rhs.transport) }
}
