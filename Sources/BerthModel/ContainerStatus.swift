/// Where a container is in its life, as the agent knows it. Statuses are ordered and only move forward:
/// a container is pulled, created, started, and finally stopped.
public enum ContainerStatus: Int, Sendable, Hashable, Comparable, CaseIterable, Codable, CustomStringConvertible {
    /// Nothing done yet.
    case none = 0
    /// Its image is on the host.
    case pulled = 1
    /// Docker has the container.
    case created = 2
    /// Its process runs.
    case running = 3
    /// It ran and exited, or it never will (a failure or a stop before it started).
    case stopped = 4

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The name in state changes and the API: PENDING until it runs.
    public var backendStatus: BackendStatus {
        switch self {
        case .none, .pulled, .created: .pending
        case .running: .running
        case .stopped: .stopped
        }
    }

    public var name: String {
        switch self {
        case .none: "NONE"
        case .pulled: "PULLED"
        case .created: "CREATED"
        case .running: "RUNNING"
        case .stopped: "STOPPED"
        }
    }

    public var description: String { name }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let status = Self.allCases.first(where: { $0.name == name }) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown container status '\(name)'")
            )
        }
        self = status
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

/// The statuses the control plane and ECS users see for tasks and containers (`lastStatus`).
public enum BackendStatus: String, Sendable, Hashable, Comparable, CaseIterable, Codable, CustomStringConvertible {
    case pending = "PENDING"
    case running = "RUNNING"
    case stopped = "STOPPED"

    private var order: Int {
        switch self {
        case .pending: 0
        case .running: 1
        case .stopped: 2
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.order < rhs.order }

    public var description: String { rawValue }
}
