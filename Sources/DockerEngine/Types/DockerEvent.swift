/// One message of `GET /events`.
public struct DockerEvent: Sendable, Hashable, Decodable {
    /// `container`, `image`, `volume`, `network`, `daemon`, …
    public let type: String
    /// `create`, `start`, `die`, `stop`, `kill`, `oom`, `destroy`, `health_status: healthy`, …
    public let action: String
    /// The object's ID (a container ID, an image name, a volume name).
    public let actorID: String
    /// The object's attributes: a container's labels, plus `name`, `image`, `exitCode` on `die`, …
    public let attributes: [String: String]
    /// `local` or `swarm`.
    public let scope: String
    /// When it happened, to the nanosecond: also the point to resume a broken stream from.
    public let time: DockerEventTime

    enum CodingKeys: String, CodingKey {
        case type = "Type"
        case action = "Action"
        case actor = "Actor"
        case scope
        case time
        case timeNano
    }

    enum ActorKeys: String, CodingKey {
        case id = "ID"
        case attributes = "Attributes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decodeIfPresent(String.self, forKey: .type) ?? ""
        action = try container.decodeIfPresent(String.self, forKey: .action) ?? ""
        if container.contains(.actor) {
            let actor = try container.nestedContainer(keyedBy: ActorKeys.self, forKey: .actor)
            actorID = try actor.decodeIfPresent(String.self, forKey: .id) ?? ""
            attributes = try actor.decodeIfPresent([String: String].self, forKey: .attributes) ?? [:]
        } else {
            actorID = ""
            attributes = [:]
        }
        scope = try container.decodeIfPresent(String.self, forKey: .scope) ?? "local"
        if let nanoseconds = try container.decodeIfPresent(Int64.self, forKey: .timeNano) {
            time = DockerEventTime(nanosecondsSinceEpoch: nanoseconds)
        } else {
            let seconds = try container.decodeIfPresent(Int64.self, forKey: .time) ?? 0
            time = DockerEventTime(secondsSinceEpoch: seconds)
        }
    }

    /// The exit code a `die` event carries.
    public var exitCode: Int? { attributes["exitCode"].flatMap { Int($0) } }
}

/// A point in time as the events API takes it (`since`, `until`): seconds and nanoseconds since the epoch.
public struct DockerEventTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let nanosecondsSinceEpoch: Int64

    public init(nanosecondsSinceEpoch: Int64) {
        self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
    }

    /// Whole seconds; saturates (a time dockerd could never send) rather than trapping.
    public init(secondsSinceEpoch seconds: Int64) {
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        self.nanosecondsSinceEpoch = overflow ? (seconds < 0 ? .min : .max) : nanoseconds
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch }

    /// `1700000000.000000123`, the form dockerd parses with full precision.
    public var description: String {
        let seconds = nanosecondsSinceEpoch / 1_000_000_000
        let fraction = String(nanosecondsSinceEpoch % 1_000_000_000)
        return "\(seconds).\(String(repeating: "0", count: 9 - fraction.count))\(fraction)"
    }
}
