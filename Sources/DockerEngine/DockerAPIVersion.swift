/// A Docker Engine API version such as 1.41.
public struct DockerAPIVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `1.41`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else {
            return nil
        }
        self.init(major: major, minor: minor)
    }

    /// The oldest API Berth speaks: 1.24 has health checks, the `since` filter on events and everything the
    /// agent sends in create. (The ECS agent needs 1.21; Docker 25 and later refuse anything below 1.24.)
    public static let minimumSupported = DockerAPIVersion(major: 1, minor: 24)
    /// The newest API Berth's request and response types follow (Docker Engine 20.10).
    public static let newestSupported = DockerAPIVersion(major: 1, minor: 41)

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.major, lhs.minor) < (rhs.major, rhs.minor) }

    public var description: String { "\(major).\(minor)" }

    /// The version to use with a daemon that supports `daemonMinimum...daemonMaximum`: the newest both
    /// sides support, or nil when the ranges do not meet.
    public static func negotiate(daemonMinimum: DockerAPIVersion?, daemonMaximum: DockerAPIVersion) -> DockerAPIVersion?
    {
        let chosen = min(daemonMaximum, newestSupported)
        guard chosen >= minimumSupported, chosen >= (daemonMinimum ?? chosen) else { return nil }
        return chosen
    }
}
