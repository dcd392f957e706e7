import BerthAgent
import BerthModel

/// Drives a ``TaskStateMachine`` as ``ManagedTask`` would, against a simulated Docker: the machine's
/// actions are held as calls in flight and answered later, in any order, with success or failure, while
/// containers exit on their own and the control plane stops the task or acknowledges changes. After every
/// step it checks the machine's invariants and records any violation.
struct TaskSimulation {
    private(set) var machine: TaskStateMachine
    private(set) var now = Timestamp(secondsSinceEpoch: 1_000_000)
    private(set) var inFlight: [TaskAction] = []
    private(set) var violations: [String] = []
    /// Every action the machine asked for, in order.
    private(set) var actions: [TaskAction] = []
    /// Clean-ups answered with a failure: each is tried again.
    private(set) var failedCleanups = 0
    /// Every change queued for the control plane, in order.
    private(set) var reported: [TaskStateChange] = []
    private let dependencies: [String: [ContainerDependency]]
    private var nextID = 0
    private var dockerIDs: [String: String] = [:]
    private var previous: TaskRecord

    init(payload: TaskPayload, policy: TaskStateMachine.Policy = .init(cleanupWait: .seconds(600))) {
        let machine = TaskStateMachine.accept(
            payload,
            policy: policy,
            hostPolicy: .init(),
            at: Timestamp(secondsSinceEpoch: 1_000_000),
            makeSuffix: { "5eed" }
        )
        self.machine = machine
        self.previous = machine.record
        self.dependencies = TaskValidation.dependencies(of: payload)
        collect(machine.record)
    }

    var record: TaskRecord { machine.record }

    /// The named container's record (an empty one for a name not in the task, which no test asks for).
    func container(_ name: String) -> ContainerRecord {
        machine.record.container(named: name) ?? ContainerRecord(name: name)
    }

    // MARK: Driving

    mutating func apply(_ event: TaskEvent) {
        machine.apply(event, at: now)
        let next = machine.nextActions(at: now)
        for action in next { check(action) }
        actions += next
        inFlight += next
        collect(machine.record)
        checkInvariants()
        previous = machine.record
    }

    mutating func admit() { apply(.admitted(hostPorts: [:])) }

    mutating func advance(seconds: Double) {
        now = now.adding(.milliseconds(Int(seconds * 1000)))
        apply(.tick)
    }

    /// Answers the call in flight at `index` the way Docker would when it succeeds.
    mutating func succeed(_ index: Int, exitCode: Int = 0) {
        let action = inFlight.remove(at: index)
        apply(success(of: action, exitCode: exitCode))
    }

    /// Answers the call in flight at `index` with a failure.
    mutating func fail(_ index: Int) {
        let action = inFlight.remove(at: index)
        switch action {
        case .createVolume(let volume): apply(.volumeFailed(taskVolume: volume.taskVolume, reason: "boom"))
        case .pull(let name, _):
            apply(.pullFailed(container: name, reason: "CannotPullContainerError: boom", stopsTask: false))
        case .create(let name): apply(.createFailed(container: name, reason: "CannotCreateContainerError: boom"))
        case .start(let name, _): apply(.startFailed(container: name, reason: "CannotStartContainerError: boom"))
        case .stop(let name, _, _): apply(.stopFailed(container: name, reason: "busy"))
        case .cleanUp:
            failedCleanups += 1
            apply(.cleanupFailed(reason: "busy"))
        }
    }

    /// Answers every call in flight with success, and whatever they lead to, until none is left.
    mutating func settleCalls(exitCode: Int = 0) {
        var rounds = 0
        while !inFlight.isEmpty, rounds < 500 {
            succeed(0, exitCode: exitCode)
            rounds += 1
        }
    }

    /// A running container exits by itself.
    mutating func exit(_ name: String, code: Int, reason: String? = nil) {
        guard let dockerID = container(name).dockerID else { return }
        apply(.observed(container: name, .exited(dockerID: dockerID, exitCode: code, reason: reason, finishedAt: now)))
    }

    mutating func acknowledgeAll() {
        guard let last = machine.record.outbox.last else { return }
        apply(.acknowledged(sequence: last.sequence))
    }

    private mutating func success(of action: TaskAction, exitCode: Int) -> TaskEvent {
        switch action {
        case .createVolume(let volume):
            return .volumeReady(taskVolume: volume.taskVolume)
        case .pull(let name, _):
            return .pulled(container: name, digest: "sha256:d", imageID: "sha256:i")
        case .create(let name):
            nextID += 1
            let id = "id\(nextID)"
            dockerIDs[name] = id
            return .created(container: name, dockerID: id)
        case .start(let name, let id):
            return .started(container: name, .running(dockerID: id, bindings: [], health: nil, startedAt: now))
        case .stop(let name, let id, _):
            return .stopped(container: name, .exited(dockerID: id, exitCode: 137, reason: nil, finishedAt: now))
        case .cleanUp:
            return .cleanedUp
        }
    }

    // MARK: Invariants

    private mutating func collect(_ record: TaskRecord) {
        let known = Set(reported.map(\.sequence))
        reported += record.outbox.filter { !known.contains($0.sequence) }
    }

    private mutating func violation(_ text: String) { violations.append(text) }

    /// Checks a call the machine asks for against the state it asks for it in.
    private mutating func check(_ action: TaskAction) {
        let record = machine.record
        switch action {
        case .create(let name):
            if inFlight.contains(where: { $0.container == name }) { violation("two calls in flight for \(name)") }
            for dependency in dependencies[name] ?? [] {
                let other = record.container(named: dependency.containerName) ?? ContainerRecord(name: "?")
                if other.dockerID == nil { violation("\(name) created before \(other.name) existed") }
                if dependency.condition == .success, other.exitCode != 0 || other.knownStatus != .stopped {
                    violation("\(name) created before \(other.name) succeeded")
                }
                if dependency.condition == .complete, other.knownStatus != .stopped {
                    violation("\(name) created before \(other.name) completed")
                }
            }
        case .start(let name, _):
            if inFlight.contains(where: { $0.container == name }) { violation("two calls in flight for \(name)") }
            if record.desiredStatus == .stopped { violation("\(name) started while the task is stopping") }
            for dependency in dependencies[name] ?? [] {
                let other = record.container(named: dependency.containerName) ?? ContainerRecord(name: "?")
                switch dependency.condition {
                case .start:
                    if other.startedAt == nil { violation("\(name) started before \(other.name) started") }
                case .complete:
                    if other.knownStatus != .stopped { violation("\(name) started before \(other.name) completed") }
                case .success:
                    if other.knownStatus != .stopped || other.exitCode != 0 {
                        violation("\(name) started before \(other.name) succeeded")
                    }
                case .healthy:
                    if other.healthStatus != .healthy { violation("\(name) started before \(other.name) was healthy") }
                case .create:
                    if other.dockerID == nil { violation("\(name) started before \(other.name) existed") }
                }
            }
        case .stop(let name, _, _):
            // Reverse order: whatever depends on this container has stopped first.
            for (dependent, targets) in dependencies where targets.contains(where: { $0.containerName == name }) {
                if record.container(named: dependent)?.knownStatus != .stopped {
                    violation("\(name) stopped before its dependent \(dependent)")
                }
            }
        case .cleanUp:
            if record.acknowledgedStatus != .stopped { violation("cleanup before STOPPED was acknowledged") }
        case .pull, .createVolume:
            break
        }
    }

    private mutating func checkInvariants() {
        let record = machine.record
        if record.knownStatus < previous.knownStatus {
            violation("task went back from \(previous.knownStatus) to \(record.knownStatus)")
        }
        for container in record.containers {
            guard let before = previous.container(named: container.name) else { continue }
            if container.knownStatus < before.knownStatus {
                violation("\(container.name) went back from \(before.knownStatus) to \(container.knownStatus)")
            }
        }
        let least = record.containers.map(\.knownStatus).min() ?? .stopped
        if record.knownStatus != TaskStatus(least) { violation("task status \(record.knownStatus) is not \(least)") }
        // Essential rule: an essential container stopped means the task is stopping.
        for container in record.containers
        where container.knownStatus == .stopped && record.definition(of: container.name)?.isEssential ?? true {
            if record.desiredStatus != .stopped { violation("essential \(container.name) stopped, task still wanted") }
        }
        // Reported changes: sequence numbers increase by one, statuses never go back.
        for (earlier, later) in zip(reported, reported.dropFirst()) {
            if later.sequence != earlier.sequence + 1 {
                violation("sequence \(earlier.sequence) then \(later.sequence)")
            }
            if later.status < earlier.status { violation("reported \(earlier.status) then \(later.status)") }
        }
    }
}

extension TaskAction {
    var container: String? {
        switch self {
        case .pull(let name, _), .create(let name), .start(let name, _), .stop(let name, _, _): name
        case .createVolume, .cleanUp: nil
        }
    }
}
