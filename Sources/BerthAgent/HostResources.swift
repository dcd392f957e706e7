public import BerthModel

/// What this host offers tasks (CPU units, memory, ports) and what admitted tasks hold, so that a task
/// only starts when it fits. Tasks wait in arrival order; each holds its resources until it stops.
public struct HostResources: Sendable {
    public let cpu: Int
    /// MiB.
    public let memory: Int
    public let reservedPorts: Set<Int>
    public let reservedPortsUDP: Set<Int>
    public let dynamicPortRange: PortRange
    /// Whether a host port can be bound right now (nobody else listens on it).
    private let portIsFree: @Sendable (Int, TransportProtocol) -> Bool

    /// What admitted, unstopped tasks hold, by task ARN.
    public private(set) var holdings: [String: Demand] = [:]
    private var nextDynamicPort: Int

    /// What a task needs.
    public typealias Demand = ResourceDemand

    public enum Admission: Sendable, Hashable {
        /// It fits: the host ports chosen for its dynamic mappings, by container and `port/protocol`.
        case admitted(hostPorts: [String: [String: Int]])
        /// Not now: other tasks hold what it needs.
        case wait(String)
        /// Never on this host.
        case impossible(String)
    }

    public init(
        cpu: Int,
        memory: Int,
        reservedPorts: [UInt16],
        reservedPortsUDP: [UInt16],
        dynamicPortRange: PortRange,
        portIsFree: @escaping @Sendable (Int, TransportProtocol) -> Bool
    ) {
        self.cpu = cpu
        self.memory = memory
        self.reservedPorts = Set(reservedPorts.map(Int.init))
        self.reservedPortsUDP = Set(reservedPortsUDP.map(Int.init))
        self.dynamicPortRange = dynamicPortRange
        self.portIsFree = portIsFree
        // A random start: agents started side by side (or restarted) do not all reach for the same first port.
        self.nextDynamicPort = Int.random(in: Int(dynamicPortRange.start)...Int(dynamicPortRange.end))
    }

    /// CPU, memory and host ports of a task, as ECS counts them (``ResourceDemand``).
    public static func demand(of task: TaskPayload) -> Demand { ResourceDemand(of: task) }

    public var available: Demand {
        var free = Demand()
        free.cpu = cpu - holdings.values.reduce(0) { $0 + $1.cpu }
        free.memory = memory - holdings.values.reduce(0) { $0 + $1.memory }
        return free
    }

    /// Admits a task if it fits now, holding its resources and choosing its dynamic host ports.
    public mutating func admit(_ task: TaskPayload) -> Admission {
        if holdings[task.taskArn] != nil { return .admitted(hostPorts: [:]) }
        var demand = Self.demand(of: task)
        if demand.cpu > cpu {
            return .impossible("the task needs \(demand.cpu) CPU units; this instance has \(cpu)")
        }
        if demand.memory > memory {
            return .impossible("the task needs \(demand.memory) MiB of memory; this instance has \(memory)")
        }
        if let port = demand.ports.intersection(reservedPorts).min() {
            return .impossible("the task needs host port \(port)/tcp, which this instance reserves")
        }
        if let port = demand.portsUDP.intersection(reservedPortsUDP).min() {
            return .impossible("the task needs host port \(port)/udp, which this instance reserves")
        }
        let free = available
        if demand.cpu > free.cpu { return .wait("\(free.cpu) of the \(demand.cpu) CPU units it needs are free") }
        if demand.memory > free.memory {
            return .wait("\(free.memory) of the \(demand.memory) MiB of memory it needs are free")
        }
        let heldTCP = holdings.values.reduce(into: Set<Int>()) { $0.formUnion($1.ports) }
        let heldUDP = holdings.values.reduce(into: Set<Int>()) { $0.formUnion($1.portsUDP) }
        if let port = demand.ports.intersection(heldTCP).min() { return .wait("host port \(port)/tcp is in use") }
        if let port = demand.portsUDP.intersection(heldUDP).min() { return .wait("host port \(port)/udp is in use") }

        var hostPorts: [String: [String: Int]] = [:]
        if (task.networkMode ?? .bridge) == .bridge {
            for container in task.containers {
                for mapping in container.portMappings ?? [] where mapping.fixedHostPort == nil {
                    let udp = mapping.transport == .udp
                    let taken =
                        udp
                        ? heldUDP.union(reservedPortsUDP).union(demand.portsUDP)
                        : heldTCP.union(reservedPorts).union(demand.ports)
                    guard let port = chooseDynamicPort(avoiding: taken, mapping.transport) else {
                        return .wait("no free host port in \(dynamicPortRange)")
                    }
                    if udp { demand.portsUDP.insert(port) } else { demand.ports.insert(port) }
                    hostPorts[container.name, default: [:]][mapping.assignmentKey] = port
                }
            }
        }
        holdings[task.taskArn] = demand
        return .admitted(hostPorts: hostPorts)
    }

    /// Holds what an already admitted task holds (after a restart).
    public mutating func restore(_ record: TaskRecord) {
        var demand = Self.demand(of: record.payload)
        for container in record.containers {
            for (key, port) in container.assignedHostPorts {
                if key.hasSuffix("/udp") { demand.portsUDP.insert(port) } else { demand.ports.insert(port) }
            }
        }
        holdings[record.arn] = demand
    }

    public mutating func release(_ arn: String) {
        holdings[arn] = nil
    }

    /// The next port of the range after the last one given, skipping taken and busy ones; ports are handed out
    /// round the range so that one just freed is not reused at once.
    private mutating func chooseDynamicPort(avoiding taken: Set<Int>, _ transport: TransportProtocol) -> Int? {
        let start = Int(dynamicPortRange.start)
        let count = dynamicPortRange.count
        for offset in 0..<count {
            let port = start + (nextDynamicPort - start + offset) % count
            if taken.contains(port) || !portIsFree(port, transport) { continue }
            nextDynamicPort = start + (port - start + 1) % count
            return port
        }
        return nil
    }
}

extension PortMapping {
    /// `containerPort/protocol`: how the host port chosen for a dynamic mapping is recorded.
    var assignmentKey: String { "\(containerPort)/\(transport.rawValue)" }
}
