public import BerthModel

public enum ServiceStatus: String, Sendable, Hashable, Codable {
    case active = "ACTIVE"
    /// Deleted with tasks still stopping; INACTIVE once none is left.
    case draining = "DRAINING"
    case inactive = "INACTIVE"
}

public enum SchedulingStrategy: String, Sendable, Hashable, Codable {
    case replica = "REPLICA"
    case daemon = "DAEMON"
}

public enum RolloutState: String, Sendable, Hashable, Codable {
    case inProgress = "IN_PROGRESS"
    case completed = "COMPLETED"
    case failed = "FAILED"
}

/// How a deployment may replace tasks (`deploymentConfiguration`).
public struct DeploymentConfiguration: Sendable, Hashable, Codable {
    /// The most tasks, RUNNING and PENDING, as a percent of desiredCount (rounded down).
    public var maximumPercent: Int
    /// The fewest RUNNING tasks, as a percent of desiredCount (rounded up).
    public var minimumHealthyPercent: Int
    public var deploymentCircuitBreaker: CircuitBreaker?

    public struct CircuitBreaker: Sendable, Hashable, Codable {
        public var enable: Bool
        public var rollback: Bool

        public init(enable: Bool, rollback: Bool) {
            self.enable = enable
            self.rollback = rollback
        }
    }

    public init(maximumPercent: Int = 200, minimumHealthyPercent: Int = 100, circuitBreaker: CircuitBreaker? = nil) {
        self.maximumPercent = maximumPercent
        self.minimumHealthyPercent = minimumHealthyPercent
        self.deploymentCircuitBreaker = circuitBreaker
    }

    /// The most tasks a deployment may have at once for `desired`.
    public func maximumTasks(desired: Int) -> Int { desired * maximumPercent / 100 }

    /// The fewest RUNNING tasks a deployment must keep for `desired`.
    public func minimumHealthyTasks(desired: Int) -> Int { (desired * minimumHealthyPercent + 99) / 100 }
}

/// One configuration of a service being rolled out (`deployments`).
public struct ServiceDeployment: Sendable, Hashable, Codable {
    /// `ecs-svc/` and 19 digits; the service's tasks carry it as `startedBy`.
    public var id: String
    /// PRIMARY (the newest), ACTIVE (older, tasks still to stop).
    public var status: String
    public var taskDefinition: String
    public var desiredCount: Int
    public var pendingCount: Int
    public var runningCount: Int
    public var failedTasks: Int
    /// Of the failed tasks, those that never reached RUNNING (the restart delay counts them).
    public var startFailures: Int?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var rolloutState: RolloutState
    public var rolloutStateReason: String
}

/// A line of a service's history (`events`), newest first.
public struct ServiceEvent: Sendable, Hashable, Codable {
    public var id: String
    public var createdAt: Timestamp
    public var message: String
}

/// A long-running service: the scheduler keeps its tasks running as its PRIMARY deployment says.
public struct ClusterService: Sendable, Hashable, Codable {
    public var serviceArn: String
    public var serviceName: String
    public var clusterArn: String
    public var status: ServiceStatus
    public var desiredCount: Int
    public var taskDefinition: String
    public var schedulingStrategy: SchedulingStrategy
    public var deploymentConfiguration: DeploymentConfiguration
    public var placementConstraints: [PlacementConstraint]
    public var placementStrategy: [PlacementStrategy]
    public var deployments: [ServiceDeployment]
    /// Newest first, at most ``ClusterService/eventLimit``.
    public var events: [ServiceEvent]
    public var tags: [Tag]
    public var createdAt: Timestamp
    /// Whether the steady-state event was written for the current state; cleared by any change.
    public var steady: Bool
    /// Counts as ECS shows them on the service, across its deployments.
    public var runningCount: Int
    public var pendingCount: Int
    /// The task definition of the last deployment that completed: where a circuit breaker rolls back to.
    public var lastCompletedTaskDefinition: String?
    /// Set by the circuit breaker: the task definition a new deployment rolls back to.
    public var rollback: String?
    /// Failures of the PRIMARY's tasks in a row, and when starting may be tried again (the restart delay).
    public var consecutiveFailures: Int?
    public var restartNotBefore: Timestamp?
    /// When it became INACTIVE: it is forgotten once the retention has passed.
    public var inactiveSince: Timestamp? = nil

    public static let eventLimit = 100

    /// The group of the service's tasks.
    public var taskGroup: String { "service:\(serviceName)" }

    public var primary: ServiceDeployment? { deployments.first { $0.status == "PRIMARY" } }

    mutating func record(_ message: String, at now: Timestamp, id: String) {
        events.insert(ServiceEvent(id: id, createdAt: now, message: "(service \(serviceName)) \(message)"), at: 0)
        if events.count > Self.eventLimit { events.removeLast(events.count - Self.eventLimit) }
    }
}
