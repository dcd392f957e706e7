import BerthAgent
import BerthAgentChannel
import BerthConfig
import BerthModel
import BerthStore
import BerthTestSupport
import DockerEngine
import Foundation
import Synchronization
import Testing

/// A model of `kill -9` inside the test process: at the crash, the agent's store stops taking writes and its
/// control-plane connection goes dead, so nothing it does afterwards is saved or heard, while the Docker calls
/// it had already made go on in dockerd, as they do when the process dies. Then a new agent starts from what
/// was saved, with the same control plane.
final class CrashSwitch: Sendable {
    private let crashed = Mutex(false)
    var isCrashed: Bool { crashed.withLock { $0 } }
    func crash() { crashed.withLock { $0 = true } }
}

/// The state store of an agent that can crash.
struct CrashableStore: AgentStateStore {
    let store: SQLiteAgentStore
    let crash: CrashSwitch

    private func alive() throws(AgentError) {
        if crash.isCrashed { throw AgentError(.store, "the agent crashed") }
    }

    func loadTasks() async throws(AgentError) -> [TaskRecord] {
        try alive()
        return try await store.loadTasks()
    }
    func save(_ task: TaskRecord) async throws(AgentError) {
        try alive()
        try await store.save(task)
    }
    func deleteTask(arn: String) async throws(AgentError) {
        try alive()
        try await store.deleteTask(arn: arn)
    }
    func loadImages() async throws(AgentError) -> [ImageRecord] {
        try alive()
        return try await store.loadImages()
    }
    func save(_ image: ImageRecord) async throws(AgentError) {
        try alive()
        try await store.save(image)
    }
    func deleteImage(reference: String) async throws(AgentError) {
        try alive()
        try await store.deleteImage(reference: reference)
    }
    func metadata(_ key: AgentMetadataKey) async throws(AgentError) -> String? {
        try alive()
        return try await store.metadata(key)
    }
    func setMetadata(_ key: AgentMetadataKey, _ value: String) async throws(AgentError) {
        try alive()
        try await store.setMetadata(key, value)
    }
    func removeAll() async throws(AgentError) {
        try alive()
        try await store.removeAll()
    }
}

/// The control-plane connection of an agent that can crash.
struct CrashableConnection: ControlPlaneConnection {
    let channel: InProcessAgentChannel
    let crash: CrashSwitch

    private func alive() throws(ControlPlaneError) {
        if crash.isCrashed { throw ControlPlaneError(.unavailable, "the agent crashed") }
    }

    func register(_ registration: InstanceRegistration) async throws(ControlPlaneError) -> RegisteredInstance {
        try alive()
        return try await channel.register(registration)
    }
    func connect(instanceArn: String) async throws(ControlPlaneError) -> PayloadStream {
        try alive()
        return try await channel.connect(instanceArn: instanceArn)
    }
    func verifyStops(manifestID: String, candidates: [String], instanceArn: String) async throws(ControlPlaneError) {
        try alive()
        try await channel.verifyStops(manifestID: manifestID, candidates: candidates, instanceArn: instanceArn)
    }
    func acknowledge(messageID: String, instanceArn: String) async throws(ControlPlaneError) {
        try alive()
        try await channel.acknowledge(messageID: messageID, instanceArn: instanceArn)
    }
    func submit(_ change: TaskStateChange, instanceArn: String) async throws(ControlPlaneError) {
        try alive()
        try await channel.submit(change, instanceArn: instanceArn)
    }
    func heartbeat(instanceArn: String) async throws(ControlPlaneError) {
        try alive()
        try await channel.heartbeat(instanceArn: instanceArn)
    }
}

@Suite("Agent on dockerd: crashes")
struct CrashIntegrationTests {
    /// Starts an agent that crashes when its switch is thrown; returns once it is ready.
    static func startAgent(
        configuration: BerthConfiguration,
        controlPlane: RecordingControlPlane,
        docker: DockerEngineClient,
        directory: String,
        crash: CrashSwitch
    ) async throws -> (running: Task<Void, any Error>, ready: Agent.Ready) {
        var timing = Agent.Timing()
        timing.reconcileInterval = .seconds(1)
        timing.reconnectBackoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        timing.channelBackoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        return try await AgentHarness.startAgent(
            configuration: configuration,
            connection: CrashableConnection(channel: InProcessAgentChannel(handler: controlPlane), crash: crash),
            docker: docker,
            store: CrashableStore(store: try SQLiteAgentStore(directory: directory), crash: crash),
            timing: timing
        )
    }

    @Test(
        "killed at random moments while tasks start and stop, restarted each time: every task ends right, no container duplicated or orphaned, no change lost",
        arguments: 0..<6
    )
    func crashesAtRandomMoments(trial: Int) async throws {
        var random = SeededRandom.make("crash trial \(trial)")
        let directory = NSTemporaryDirectory() + "berth-it-crash-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = AgentHarness.uniqueCluster("crash\(trial)")
        var configuration = try AgentHarness.configuration(cluster: cluster)
        configuration.containerStopTimeout = .seconds(1)
        let controlPlane = RecordingControlPlane(cluster: cluster)

        try await AgentHarness.withDocker(cluster: cluster) { docker in
            // A burst of tasks: some exit on their own with a known code, some run until stopped, some
            // have two containers ordered by a link.
            var expectations: [String: [String: Int?]] = [:]
            var longRunning: [TaskPayload] = []
            var payloads: [TaskPayload] = []
            for index in 0..<6 {
                let arn = "arn:aws:ecs:us-east-1:123456789012:task/\(cluster)/t\(index)"
                var containers: [ContainerDefinition]
                switch index % 3 {
                case 0:
                    let code = Int.random(in: 0...3, using: &random)
                    containers = [shell("app", "sleep 0.\(Int.random(in: 1...9, using: &random)); exit \(code)")]
                    expectations[arn] = ["app": code]
                case 1:
                    containers = [shell("app", "sleep 600")]
                    expectations[arn] = ["app": nil]
                default:
                    var web = shell("web", "grep -qw backend /etc/hosts && sleep 600")
                    web.links = ["db:backend"]
                    containers = [shell("db", "sleep 600", essential: false), web]
                    expectations[arn] = ["db": nil, "web": nil]
                }
                let payload = TaskPayload(
                    taskArn: arn,
                    clusterArn: await controlPlane.clusterArn,
                    family: "crash",
                    revision: 1,
                    containers: containers
                )
                payloads.append(payload)
                if index % 3 != 0 { longRunning.append(payload) }
            }

            var crash = CrashSwitch()
            var (agent, ready) = try await Self.startAgent(
                configuration: configuration,
                controlPlane: controlPlane,
                docker: docker,
                directory: directory,
                crash: crash
            )
            let instance = ready.instance.containerInstanceArn
            await controlPlane.send(Array(payloads.prefix(3)), to: instance)
            await controlPlane.send(Array(payloads.dropFirst(3)), to: instance)

            // Crash a few times while the tasks start, then once while they stop.
            for round in 0..<3 {
                if round == 2 {
                    let stops = longRunning.map { payload -> TaskPayload in
                        var stopped = payload
                        stopped.desiredStatus = .stopped
                        stopped.stoppedReason = "crash test"
                        return stopped
                    }
                    await controlPlane.send(stops, to: instance)
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...1500, using: &random)))
                crash.crash()
                agent.cancel()
                crash = CrashSwitch()
                (agent, ready) = try await Self.startAgent(
                    configuration: configuration,
                    controlPlane: controlPlane,
                    docker: docker,
                    directory: directory,
                    crash: crash
                )
                #expect(ready.instance.containerInstanceArn == instance)
            }

            // Every task reaches STOPPED, with the exit codes its containers had.
            for (arn, containers) in expectations {
                let view = try await controlPlane.waitForStatus(arn, .stopped, timeout: TestEnvironment.loadedWait)
                for (name, code) in containers {
                    let container = try #require(view.containers[name], "\(arn) \(name): \(view)")
                    #expect(container.status == .stopped)
                    if let code { #expect(container.exitCode == code, "\(arn) \(name): \(container)") }
                }
                // The control plane heard every change of the task, the first time in order. Changes sent
                // again because the crash came before their acknowledgements were saved come twice: after
                // the crash, from the first unacknowledged one on (as [1, 2, 1, 2]), and nothing is new then.
                let sequences = await controlPlane.changes(of: arn).map(\.sequence)
                var firstHeard: [Int] = []
                var highest = 0
                for sequence in sequences {
                    if sequence > highest {
                        firstHeard.append(sequence)
                        highest = sequence
                    } else {
                        #expect(firstHeard.contains(sequence), "\(arn): \(sequences)")
                    }
                }
                #expect(firstHeard == Array(1...max(1, highest)), "\(arn): \(sequences)")
            }

            // No container duplicated, none orphaned: each task container exists exactly once, and every
            // container of the cluster belongs to a task container.
            let listed = try await docker.listContainers(
                all: true,
                filters: ["label": ["\(ContainerSpec.Label.cluster)=\(cluster)"]]
            )
            var seen: [String: Int] = [:]
            for container in listed {
                let arn = container.labels[ContainerSpec.Label.taskArn] ?? "?"
                let name = container.labels[ContainerSpec.Label.containerName] ?? "?"
                #expect(expectations[arn]?[name] != nil, "orphan \(container.names)")
                seen["\(arn)/\(name)", default: 0] += 1
            }
            #expect(seen.values.allSatisfy { $0 == 1 }, "\(seen)")
            // A start dockerd finished after a crash is stopped again by the agent that counts it stopped.
            var stillRunning = listed.filter { $0.state == "running" }
            let deadline = ContinuousClock.now + TestEnvironment.loadedWait
            while !stillRunning.isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                stillRunning = try await docker.listContainers(
                    all: false,
                    filters: ["label": ["\(ContainerSpec.Label.cluster)=\(cluster)"]]
                )
            }
            #expect(
                stillRunning.isEmpty,
                "\(stillRunning.map { "\($0.names) \($0.state) \($0.labels[ContainerSpec.Label.taskArn] ?? "")" })"
            )
            #expect(await controlPlane.pendingPayloads == 0)

            crash.crash()
            agent.cancel()
        }
    }
}
