/// What a task holds on a host, as ECS counts it: CPU units and MiB of memory (the task's own values when
/// it sets them, else the sum over its containers, memoryReservation before memory), and the host ports
/// it binds — fixed ones in bridge mode, every container port in host mode.
///
/// The control plane reserves it on an instance; the agent admits a task against it. One definition, so
/// the two can never disagree about what fits.
public struct ResourceDemand: Sendable, Hashable, Codable {
    public var cpu: Int
    public var memory: Int
    public var ports: Set<Int>
    public var portsUDP: Set<Int>

    public init(cpu: Int = 0, memory: Int = 0, ports: Set<Int> = [], portsUDP: Set<Int> = []) {
        self.cpu = cpu
        self.memory = memory
        self.ports = ports
        self.portsUDP = portsUDP
    }

    public init(of task: TaskPayload) {
        self.init()
        cpu = Self.sum(task.cpu.map { [$0] } ?? task.containers.map { $0.cpu ?? 0 })
        memory = Self.sum(task.memory.map { [$0] } ?? task.containers.map { $0.memoryReservation ?? $0.memory ?? 0 })
        for mapping in task.containers.flatMap({ $0.portMappings ?? [] }) {
            let port = task.networkMode == .host ? mapping.containerPort : mapping.fixedHostPort
            guard let port else { continue }
            if mapping.transport == .udp { portsUDP.insert(port) } else { ports.insert(port) }
        }
    }

    public var isEmpty: Bool { cpu == 0 && memory == 0 && ports.isEmpty && portsUDP.isEmpty }

    public static func + (lhs: ResourceDemand, rhs: ResourceDemand) -> ResourceDemand {
        ResourceDemand(
            cpu: sum([lhs.cpu, rhs.cpu]),
            memory: sum([lhs.memory, rhs.memory]),
            ports: lhs.ports.union(rhs.ports),
            portsUDP: lhs.portsUDP.union(rhs.portsUDP)
        )
    }

    /// The sum of amounts, each at least zero, saturating instead of trapping: the API bounds every amount
    /// far below overflow, and a payload that does not must not bring the process down.
    static func sum(_ amounts: [Int]) -> Int {
        var total = 0
        for amount in amounts {
            let (next, overflow) = total.addingReportingOverflow(max(0, amount))
            total = overflow ? Int.max : next
        }
        return total
    }

    /// What is left when `rhs` is released; never below zero.
    public static func - (lhs: ResourceDemand, rhs: ResourceDemand) -> ResourceDemand {
        ResourceDemand(
            cpu: max(0, lhs.cpu - rhs.cpu),
            memory: max(0, lhs.memory - rhs.memory),
            ports: lhs.ports.subtracting(rhs.ports),
            portsUDP: lhs.portsUDP.subtracting(rhs.portsUDP)
        )
    }
}
