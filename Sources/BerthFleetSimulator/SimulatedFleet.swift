import BerthAgentChannel
import BerthModel
public import BerthRemoteChannel
import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// Many container instances in one process, without Docker, for benchmarks and tests of the control plane
/// at scale: each registers through the signed ECS API and holds its own payload channel (one WebSocket
/// each) exactly as `berth agent` does, through the same ``RemoteControlPlaneConnection``. Each acknowledges
/// every payload, reports a task RUNNING (its containers with it) when told to run it and STOPPED when told
/// to stop it, and answers task manifests as the agent does: a task it runs that the control plane no
/// longer lists is stopped once the control plane confirms it.
///
/// Runs until cancelled or, as a `Service`, until graceful shutdown; instances stay registered, as agents
/// that stop do.
public final class SimulatedFleet: Service {
    public struct Settings: Sendable {
        public var cluster: String
        public var instances: Int
        /// What each instance registers: CPU units and MiB of memory.
        public var cpu: Int
        public var memory: Int
        /// How many instances register at once.
        public var registrationConcurrency: Int
        /// Instance IDs are `PREFIX-N` (`ecs.instance-id` style), so runs with other prefixes can share a
        /// cluster.
        public var namePrefix: String

        public init(
            cluster: String,
            instances: Int,
            cpu: Int = 4096,
            memory: Int = 16384,
            registrationConcurrency: Int = 32,
            namePrefix: String = "sim"
        ) {
            self.cluster = cluster
            self.instances = instances
            self.cpu = cpu
            self.memory = memory
            self.registrationConcurrency = registrationConcurrency
            self.namePrefix = namePrefix
        }
    }

    /// Counts across the fleet, read while it runs.
    public struct Counts: Sendable, Hashable, CustomStringConvertible {
        public var registered = 0
        public var connected = 0
        public var running = 0
        public var payloads = 0
        public var reports = 0
        public var failedReports = 0
        /// The last failure to register or connect, with how many there have been.
        public var failures = 0
        public var lastFailure: String?

        public var description: String {
            "registered \(registered), connected \(connected), tasks running \(running), payloads \(payloads), "
                + "reports \(reports) (\(failedReports) failed)"
                + (lastFailure.map { "; \(failures) failures to register or connect, the last: \($0)" } ?? "")
        }
    }

    let settings: Settings
    let makeConnection: @Sendable () -> RemoteControlPlaneConnection
    let logger: Logger
    private let counts = Mutex(Counts())

    /// `makeConnection` gives each instance its own channel (they may share one ``SignedECSClient``).
    public init(
        settings: Settings,
        logger: Logger,
        makeConnection: @escaping @Sendable () -> RemoteControlPlaneConnection
    ) {
        self.settings = settings
        self.logger = logger
        self.makeConnection = makeConnection
    }

    public var current: Counts { counts.withLock { $0 } }

    public func run() async {
        await cancelWhenGracefulShutdown { await self.simulate() }
    }

    /// Registers the instances (a few at a time), then runs each until cancelled.
    public func simulate() async {
        let registrations = RegistrationGate(settings.registrationConcurrency)
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<settings.instances {
                group.addTask {
                    let instance = SimulatedInstance(
                        id: "\(self.settings.namePrefix)-\(index)",
                        fleet: self,
                        connection: self.makeConnection()
                    )
                    await instance.run(registrations: registrations)
                }
            }
        }
    }

    func count(_ change: (inout Counts) -> Void) { counts.withLock { change(&$0) } }

    func registration(id: String) -> InstanceRegistration {
        let document = #"{"instanceId":"\#(id)","region":"us-east-1","availabilityZone":"us-east-1a"}"#
        return InstanceRegistration(
            cluster: settings.cluster,
            totalResources: [
                .integer("CPU", settings.cpu), .integer("MEMORY", settings.memory),
                .stringSet("PORTS", ["22", "2375", "2376", "51678", "51679"]), .stringSet("PORTS_UDP", []),
            ],
            attributes: [
                ("ecs.os-type", "linux"), ("ecs.os-family", "LINUX"), ("ecs.cpu-architecture", "x86_64"),
                ("com.amazonaws.ecs.capability.docker-remote-api.1.17", nil),
                ("ecs.capability.container-health-check", nil), ("berth.simulated", "true"),
            ].compactMap { try? Attribute(name: $0.0, value: $0.1) },
            versionInfo: VersionInfo(agentVersion: "simulated", dockerVersion: "simulated"),
            instanceIdentityDocument: document
        )
    }
}

/// One simulated instance: its registration, its channel, and the tasks it "runs".
struct SimulatedInstance {
    let id: String
    let fleet: SimulatedFleet
    let connection: RemoteControlPlaneConnection

    /// Tasks running here, and each task's last report sequence number.
    private final class Tasks: Sendable {
        let state = Mutex<(running: Set<String>, sequences: [String: Int])>(([], [:]))
    }
    private let tasks = Tasks()

    func run(registrations: RegistrationGate) async {
        var instanceArn: String?
        var failures = 0
        while !Task.isCancelled {
            do {
                if instanceArn == nil {
                    await registrations.acquire()
                    defer { registrations.release() }
                    let registered = try await connection.register(
                        fleet.registration(id: id).with(previousArn: instanceArn)
                    )
                    instanceArn = registered.containerInstanceArn
                    fleet.count { $0.registered += 1 }
                }
                guard let instanceArn else { continue }
                let stream = try await connection.connect(instanceArn: instanceArn)
                fleet.count { $0.connected += 1 }
                defer { fleet.count { $0.connected -= 1 } }
                failures = 0
                for try await message in stream { await handle(message, instanceArn: instanceArn) }
            } catch  where Task.isCancelled {
                return
            } catch let error as ControlPlaneError where error.code == .instanceInactive {
                // Deregistered: an agent registers anew, as a new instance.
                instanceArn = nil
                fleet.logger.info("simulated instance registers anew", metadata: ["instance": "\(id)"])
            } catch {
                failures += 1
                fleet.count {
                    $0.failures += 1
                    $0.lastFailure = "\(error)"
                }
            }
            // Reconnect as the agent does: soon, then backing off, with jitter so instances do not move in step.
            let pause = min(30_000, 250 << min(failures, 7))
            try? await Task.sleep(for: .milliseconds(Int.random(in: pause / 2...pause)))
        }
    }

    private func handle(_ message: ChannelMessage, instanceArn: String) async {
        switch message {
        case .payload(let payload):
            fleet.count { $0.payloads += 1 }
            // Acknowledged first, as the agent does once it has stored the tasks.
            try? await connection.acknowledge(messageID: payload.messageID, instanceArn: instanceArn)
            for task in payload.tasks {
                if task.desiredStatus == .stopped {
                    await stop(task.taskArn, containers: task.containers.map(\.name), instanceArn: instanceArn)
                } else {
                    await start(task, instanceArn: instanceArn)
                }
            }
        case .taskManifest(let manifest):
            let listed = Dictionary(manifest.tasks.map { ($0.taskArn, $0.desiredStatus) }, uniquingKeysWith: { $1 })
            let running = tasks.state.withLock { $0.running }
            for arn in running where listed[arn] == .stopped {
                await stop(arn, containers: [], instanceArn: instanceArn)
            }
            let unlisted = running.filter { listed[$0] == nil }
            if !unlisted.isEmpty {
                try? await connection.verifyStops(
                    manifestID: manifest.messageID,
                    candidates: unlisted.sorted(),
                    instanceArn: instanceArn
                )
            }
        case .stopsConfirmed(_, let arns):
            for arn in arns { await stop(arn, containers: [], instanceArn: instanceArn) }
        }
    }

    private func start(_ task: TaskPayload, instanceArn: String) async {
        guard let sequence = nextSequence(task.taskArn, running: true) else { return }
        fleet.count { $0.running += 1 }
        let containers = task.containers.map {
            ContainerStateChange(containerName: $0.name, runtimeId: "simulated-\($0.name)", status: .running)
        }
        let change = TaskStateChange(
            taskArn: task.taskArn,
            sequence: sequence,
            status: .running,
            at: Self.now(),
            containers: containers
        )
        await report(change, instanceArn: instanceArn)
    }

    private func stop(_ taskArn: String, containers: [String], instanceArn: String) async {
        guard let sequence = nextSequence(taskArn, running: false) else { return }
        if sequence > 1 { fleet.count { $0.running -= 1 } }
        let change = TaskStateChange(
            taskArn: taskArn,
            sequence: sequence,
            status: .stopped,
            at: Self.now(),
            executionStoppedAt: Self.now(),
            containers: containers.map { ContainerStateChange(containerName: $0, status: .stopped, exitCode: 0) }
        )
        await report(change, instanceArn: instanceArn)
    }

    /// The sequence number of a task's change to running (or stopped); nil when it is so already (a
    /// payload sent again brings nothing new). A task told to stop that never ran here is reported STOPPED
    /// all the same, with sequence 1.
    private func nextSequence(_ taskArn: String, running: Bool) -> Int? {
        tasks.state.withLock { state -> Int? in
            let previous = state.sequences[taskArn]
            if running {
                guard previous == nil else { return nil }
                state.running.insert(taskArn)
            } else {
                guard state.running.remove(taskArn) != nil || previous == nil else { return nil }
            }
            let sequence = (previous ?? 0) + 1
            state.sequences[taskArn] = sequence
            return sequence
        }
    }

    private func report(_ change: TaskStateChange, instanceArn: String) async {
        // Reported until taken, as the agent does; a report the control plane refuses is not retried.
        for attempt in 0..<5 {
            do {
                try await connection.submit(change, instanceArn: instanceArn)
                fleet.count { $0.reports += 1 }
                return
            } catch  where error.isTransient && !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100 << attempt))
            } catch {
                break
            }
        }
        fleet.count { $0.failedReports += 1 }
    }

    static func now() -> Timestamp { Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970) }
}

extension InstanceRegistration {
    func with(previousArn: String?) -> InstanceRegistration {
        var copy = self
        copy.containerInstanceArn = previousArn
        return copy
    }
}

/// Lets at most `limit` holders at a time through.
final class RegistrationGate: Sendable {
    private let state: Mutex<(available: Int, waiters: [CheckedContinuation<Void, Never>])>

    init(_ limit: Int) { state = Mutex((max(1, limit), [])) }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
