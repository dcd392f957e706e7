public import BerthModel

/// Placement as pure functions: what a task needs, which instances can take it, and which of those the
/// strategies prefer. The control plane calls them on a snapshot and commits the result with version
/// checks, so the functions never see a half-updated cluster.
public enum Placement {
    /// An instance as placement sees it: its registration, what is reserved on it, and the tasks on it.
    public struct Candidate: Sendable {
        public var instance: ContainerInstance
        public var taskGroups: [String: Int]
        /// Tasks RUNNING there, as the query language's `runningTasksCount` counts them.
        public var runningTasks: Int

        public init(instance: ContainerInstance, taskGroups: [String: Int], runningTasks: Int) {
            self.instance = instance
            self.taskGroups = taskGroups
            self.runningTasks = runningTasks
        }

        var querySubject: ClusterQuery.Subject {
            ClusterQuery.Subject(instance: instance, taskGroups: Set(taskGroups.keys), runningTasksCount: runningTasks)
        }

        func remaining(_ resource: String) -> Int {
            switch resource {
            case "cpu": instance.registeredInteger("CPU") - instance.reserved.cpu
            default: instance.registeredInteger("MEMORY") - instance.reserved.memory
            }
        }
    }

    /// The resources one task of `definition` holds, counted as the agent counts them: from the payload it
    /// will receive.
    public static func demand(of definition: TaskDefinition, overrides: TaskOverride = TaskOverride()) -> Reservation {
        let taskLevel = taskLevelResources(of: definition, overrides: overrides)
        let payload = TaskPayload(
            taskArn: "",
            clusterArn: "",
            family: definition.family,
            revision: definition.revision,
            containers: containers(of: definition, overrides: overrides),
            volumes: definition.volumes,
            networkMode: definition.networkMode,
            cpu: taskLevel.cpu,
            memory: taskLevel.memory
        )
        return ResourceDemand(of: payload)
    }

    /// The task-level cpu and memory, a caller's overrides first. Both were checked when they came in; a
    /// value that still does not read (stored before the check) counts as unset.
    static func taskLevelResources(of definition: TaskDefinition, overrides: TaskOverride) -> (cpu: Int?, memory: Int?)
    {
        (
            (overrides.cpu ?? definition.cpu).flatMap { try? TaskSize.cpu($0) },
            (overrides.memory ?? definition.memory).flatMap { try? TaskSize.memory($0) }
        )
    }

    /// The task definition's containers with a caller's overrides applied.
    public static func containers(of definition: TaskDefinition, overrides: TaskOverride) -> [ContainerDefinition] {
        definition.containerDefinitions.map { original in
            var container = original
            for change in overrides.containerOverrides ?? [] where change.name == container.name {
                if let command = change.command { container.command = command }
                if let environment = change.environment {
                    var merged = container.environment ?? []
                    for variable in environment {
                        merged.removeAll { $0.name == variable.name }
                        merged.append(variable)
                    }
                    container.environment = merged
                }
                if let cpu = change.cpu { container.cpu = cpu }
                if let memory = change.memory { container.memory = memory }
                if let reservation = change.memoryReservation { container.memoryReservation = reservation }
            }
            return container
        }
    }

    /// Why `instance` cannot take `demand`, in ECS's words (`RESOURCE:MEMORY`), or nil when it can.
    public static func shortfall(of instance: ContainerInstance, for demand: Reservation) -> String? {
        if instance.registeredInteger("CPU") - instance.reserved.cpu < demand.cpu { return "RESOURCE:CPU" }
        if instance.registeredInteger("MEMORY") - instance.reserved.memory < demand.memory { return "RESOURCE:MEMORY" }
        // Most tasks ask for no fixed port: the registered ones are read only for those that do.
        if !demand.ports.isEmpty,
            !instance.reserved.ports.isDisjoint(with: demand.ports)
                || !instance.registeredPorts("PORTS").isDisjoint(with: demand.ports)
        {
            return "RESOURCE:PORTS"
        }
        if !demand.portsUDP.isEmpty,
            !instance.reserved.portsUDP.isDisjoint(with: demand.portsUDP)
                || !instance.registeredPorts("PORTS_UDP").isDisjoint(with: demand.portsUDP)
        {
            return "RESOURCE:PORTS_UDP"
        }
        return nil
    }

    /// Constraints as parsed once per call.
    public struct Constraints: Sendable {
        var distinctInstance = false
        var memberOf: [ClusterQuery] = []

        /// Whether at most one task of a group may run on an instance.
        public var distinctInstanceRequired: Bool { distinctInstance }

        public init(_ constraints: [PlacementConstraint]) throws(ClusterError) {
            guard constraints.count <= 10 else {
                throw ClusterError.invalid("A maximum of 10 placement constraints can be specified.")
            }
            for constraint in constraints {
                switch constraint.type {
                case "distinctInstance":
                    distinctInstance = true
                case "memberOf":
                    guard let expression = constraint.expression, !expression.isEmpty else {
                        throw ClusterError.invalid("A memberOf placement constraint needs an expression.")
                    }
                    memberOf.append(try ClusterQuery(parsing: expression))
                default:
                    throw ClusterError.invalid("Unknown placement constraint type '\(constraint.type)'.")
                }
            }
        }
    }

    /// Strategies as checked once per call.
    public static func validate(_ strategies: [PlacementStrategy]) throws(ClusterError) {
        guard strategies.count <= 5 else {
            throw ClusterError.invalid("A maximum of 5 placement strategies can be specified.")
        }
        for strategy in strategies {
            switch strategy.type {
            case "random":
                continue
            case "spread":
                guard let field = strategy.field, !field.isEmpty else {
                    throw ClusterError.invalid("A spread placement strategy needs a field.")
                }
            case "binpack":
                guard let field = strategy.field?.lowercased(), field == "cpu" || field == "memory" else {
                    throw ClusterError.invalid("A binpack placement strategy's field must be cpu or memory.")
                }
            default:
                throw ClusterError.invalid("Unknown placement strategy type '\(strategy.type)'.")
            }
        }
    }

    /// The outcome of placing `count` tasks: the instance chosen for each placed task, and why the others
    /// found no home (one entry per refusing instance and reason).
    public struct Decision: Sendable {
        public var instances: [String]
        public var failures: [PlacementFailure]
    }

    /// Places `count` tasks one by one, each placement updating what the next one sees. Only the instance
    /// just chosen changes between placements, so each instance is judged once and then only the chosen one
    /// again; spread counts are kept per value and moved by one at each placement.
    public static func place<Generator: RandomNumberGenerator>(
        count: Int,
        demand: Reservation,
        group: String,
        candidates initial: [Candidate],
        constraints: Constraints,
        strategies: [PlacementStrategy],
        using generator: inout Generator
    ) -> Decision {
        var candidates = initial
        var chosen: [String] = []
        var failures: [PlacementFailure] = []
        var failuresSeen: Set<PlacementFailure> = []
        func judge(_ index: Int) -> Bool {
            let candidate = candidates[index]
            guard let reason = refusal(of: candidate, demand: demand, group: group, constraints: constraints) else {
                return true
            }
            let failure = PlacementFailure(arn: candidate.instance.containerInstanceArn, reason: reason)
            if failuresSeen.insert(failure).inserted { failures.append(failure) }
            return false
        }
        var takes = candidates.indices.map(judge)
        var spreads = strategies.filter { $0.type == "spread" }.map { SpreadCount(candidates, group: group, $0) }
        for _ in 0..<count {
            let eligible = candidates.indices.filter { takes[$0] }
            guard !eligible.isEmpty else { break }
            let pick = choose(among: eligible, candidates, spreads: spreads, strategies: strategies, using: &generator)
            candidates[pick].instance.reserved = candidates[pick].instance.reserved + demand
            candidates[pick].taskGroups[group, default: 0] += 1
            for index in spreads.indices { spreads[index].placed(on: pick) }
            chosen.append(candidates[pick].instance.containerInstanceArn)
            takes[pick] = judge(pick)
        }
        return Decision(instances: chosen, failures: chosen.count == count ? [] : failures)
    }

    /// A spread strategy's tally: each candidate's value of the field, and how many of the group's tasks
    /// each value holds.
    struct SpreadCount {
        /// Each candidate's value of the field, as a position in `tasksByValue`: a placement then costs
        /// array reads, not a hash of an ARN per candidate.
        var valueOf: [Int] = []
        var tasksByValue: [Int] = []

        init(_ candidates: [Candidate], group: String, _ strategy: PlacementStrategy) {
            let field = strategy.field ?? "instanceId"
            var positions: [String: Int] = [:]
            valueOf.reserveCapacity(candidates.count)
            for candidate in candidates {
                let value = spreadValue(candidate, field)
                let position: Int
                if let known = positions[value] {
                    position = known
                } else {
                    position = tasksByValue.count
                    positions[value] = position
                    tasksByValue.append(0)
                }
                valueOf.append(position)
                tasksByValue[position] += candidate.taskGroups[group, default: 0]
            }
        }

        func tasks(at index: Int) -> Int { tasksByValue[valueOf[index]] }

        mutating func placed(on index: Int) { tasksByValue[valueOf[index]] += 1 }
    }

    /// Whether ``placeRandomly(count:demand:group:instances:candidate:constraints:using:)`` decides as
    /// ``place(count:demand:group:candidates:constraints:strategies:using:)`` would: no strategy but
    /// `random`, and no expression that reads the whole of an instance.
    public static func placesRandomly(_ strategies: [PlacementStrategy], _ constraints: Constraints) -> Bool {
        constraints.memberOf.isEmpty && strategies.allSatisfy { $0.type == "random" }
    }

    /// `place` with the `random` strategy, without looking at every instance: each task goes to the first
    /// instance that can take it in a fresh random order, which is a uniform choice among those that can
    /// (as `place` makes it), and costs a look or two while most instances have room. Every instance is
    /// looked at only when a task finds no home, to say why. `candidate` gives an ACTIVE instance as
    /// placement sees it, nil for one that takes no tasks (DRAINING, INACTIVE, gone).
    ///
    /// The first half of the draws keep only instances `preferred` says yes to, so that a task goes to one
    /// of those that can take it when there are any to be drawn; the rest of the draws, and the shuffle
    /// after them, take any instance. (Replicas prefer the instances whose agents they hold: another
    /// replica seldom writes those, so their commits seldom conflict.)
    public static func placeRandomly<Generator: RandomNumberGenerator>(
        count: Int,
        demand: Reservation,
        group: String,
        instances: some RandomAccessCollection<String>,
        candidate: (String) -> Candidate?,
        constraints: Constraints,
        preferring preferred: (String) -> Bool = { _ in true },
        using generator: inout Generator
    ) -> Decision {
        var seen: [String: Candidate?] = [:]
        func look(_ arn: String) -> Candidate? {
            if let known = seen[arn] { return known }
            let found = candidate(arn)
            seen[arn] = found
            return found
        }
        func takes(_ arn: String) -> Bool {
            guard let next = look(arn) else { return false }
            return refusal(of: next, demand: demand, group: group, constraints: constraints) == nil
        }
        var chosen: [String] = []
        for _ in 0..<count {
            var picked: String?
            // A few instances drawn at random, the first that can take the task kept; then, when those were
            // all full, the first that can in a random order of them all (a partial Fisher-Yates shuffle,
            // drawn as far as needed). Either way a uniform choice among those that can (among the preferred
            // ones that can, when the first half of the draws found one).
            let draws = min(32, instances.count)
            for draw in 0..<draws {
                guard let arn = instances.randomElement(using: &generator) else { break }
                if draw < draws / 2, !preferred(arn) { continue }
                if takes(arn) {
                    picked = arn
                    break
                }
            }
            if picked == nil {
                var order = Array(instances)
                for position in order.indices {
                    order.swapAt(position, Int.random(in: position..<order.count, using: &generator))
                    if takes(order[position]) {
                        picked = order[position]
                        break
                    }
                }
            }
            guard let arn = picked, var taken = look(arn) else { break }
            taken.instance.reserved = taken.instance.reserved + demand
            taken.taskGroups[group, default: 0] += 1
            seen[arn] = taken
            chosen.append(arn)
        }
        guard chosen.count < count else { return Decision(instances: chosen, failures: []) }
        var failures: [PlacementFailure] = []
        for arn in instances {
            guard let candidate = look(arn),
                let reason = refusal(of: candidate, demand: demand, group: group, constraints: constraints)
            else { continue }
            failures.append(PlacementFailure(arn: arn, reason: reason))
        }
        return Decision(instances: chosen, failures: failures)
    }

    static func refusal(
        of candidate: Candidate,
        demand: Reservation,
        group: String,
        constraints: Constraints
    ) -> String? {
        if !candidate.instance.agentConnected { return "AGENT" }
        if let reason = shortfall(of: candidate.instance, for: demand) { return reason }
        if constraints.distinctInstance, candidate.taskGroups[group, default: 0] > 0 { return "DistinctInstance" }
        guard !constraints.memberOf.isEmpty else { return nil }
        let subject = candidate.querySubject
        if constraints.memberOf.contains(where: { !$0.matches(subject) }) { return "MemberOf" }
        return nil
    }

    static func choose<Generator: RandomNumberGenerator>(
        among eligible: [Int],
        _ candidates: [Candidate],
        spreads: [SpreadCount],
        strategies: [PlacementStrategy],
        using generator: inout Generator
    ) -> Int {
        var remaining = eligible
        var spreadIndex = 0
        for strategy in strategies {
            switch strategy.type {
            case "binpack":
                guard remaining.count > 1 else { continue }
                let field = strategy.field?.lowercased() ?? "memory"
                let least = remaining.map { candidates[$0].remaining(field) }.min()
                remaining = remaining.filter { candidates[$0].remaining(field) == least }
            case "spread":
                let spread = spreads[spreadIndex]
                spreadIndex += 1
                guard remaining.count > 1 else { continue }
                let fewest = remaining.map { spread.tasks(at: $0) }.min()
                remaining = remaining.filter { spread.tasks(at: $0) == fewest }
            default:
                continue
            }
        }
        return remaining.randomElement(using: &generator) ?? eligible[0]
    }

    static func spreadValue(_ candidate: Candidate, _ field: String) -> String {
        switch field.lowercased() {
        case "instanceid", "host": return candidate.instance.containerInstanceArn
        default:
            let name = field.hasPrefix("attribute:") ? String(field.dropFirst("attribute:".count)) : field
            return candidate.instance.attributes.first { $0.name == name }?.value ?? ""
        }
    }
}
