import BerthAgent
import BerthAgentChannel
import BerthConfig
import BerthModel
import BerthStore
import BerthTestSupport
import DockerEngine
import Foundation
import Logging

/// A change to the agent's configuration for one test.
typealias Configure = (inout BerthConfiguration) throws -> Void

/// One agent, running in this process against the real dockerd, with a recording control plane and its own
/// cluster name (so that tests running side by side never touch each other's containers).
struct AgentHarness {
    let controlPlane: RecordingControlPlane
    let docker: DockerEngineClient
    let instanceArn: String
    let engine: TaskEngine
    let cluster: String
    let ready: Agent.Ready

    static let logger: Logger = {
        let printing = ProcessInfo.processInfo.environment["BERTH_TEST_LOG"] != nil
        return Logger(label: "berth-agent-it") { _ in
            CapturedLog(logLevel: printing ? .debug : .info, printing: printing)
        }
    }()

    static func configuration(cluster: String) throws -> BerthConfiguration {
        var configuration = BerthConfiguration(
            region: try AWSRegion("us-east-1"),
            dynamicHostPortRange: try PortRange(start: 49153, end: 60999)
        )
        configuration.cluster = try ClusterName(cluster)
        configuration.containerStopTimeout = .seconds(2)
        configuration.imagePullBehavior = .preferCached
        return configuration
    }

    /// A unique cluster name for one test, so that tests running side by side never touch each other's
    /// containers.
    static func uniqueCluster(_ name: String) -> String {
        "berth-it-\(name)-\(UUID().uuidString.prefix(6).lowercased())"
    }

    /// Runs `body` with a client of the real dockerd, then removes every container and volume of `cluster`,
    /// whether `body` succeeded or not.
    static func withDocker(cluster: String, _ body: (DockerEngineClient) async throws -> Void) async throws {
        try await DockerEngineClient.withClient(
            endpoint: .unixSocket(path: TestEnvironment.dockerSocket),
            logger: logger
        ) { docker in
            do {
                try await body(docker)
            } catch {
                await docker.removeEverything(ofCluster: cluster)
                throw error
            }
            await docker.removeEverything(ofCluster: cluster)
        }
    }

    /// Runs an agent for the length of `body`, then stops it and removes every container and volume of its
    /// cluster.
    static func withAgent(
        _ name: String,
        configure: Configure = { _ in },
        agentDocker: @escaping @Sendable (DockerEngineClient) -> any DockerClient = { $0 },
        _ body: (AgentHarness) async throws -> Void
    ) async throws {
        let cluster = uniqueCluster(name)
        var configuration = try configuration(cluster: cluster)
        try configure(&configuration)
        let finalConfiguration = configuration
        let controlPlane = RecordingControlPlane(cluster: cluster)
        let store = try SQLiteAgentStore()
        try await withDocker(cluster: cluster) { docker in
            try await runAgent(
                configuration: finalConfiguration,
                controlPlane: controlPlane,
                docker: docker,
                store: store,
                agentDocker: agentDocker,
                body
            )
        }
    }

    /// Starts an agent and returns once it is ready, with the task that runs it (cancel it to stop the agent).
    static func startAgent(
        configuration: BerthConfiguration,
        connection: any ControlPlaneConnection,
        docker: any DockerClient,
        store: any AgentStateStore,
        timing: Agent.Timing
    ) async throws -> (running: Task<Void, any Error>, ready: Agent.Ready) {
        let (readyStream, readyContinuation) = AsyncStream.makeStream(of: Agent.Ready.self)
        let agent = Agent(
            configuration: configuration,
            connection: connection,
            docker: docker,
            store: store,
            host: HostFacts(cpuCores: 2, memoryMiB: 4096, architecture: "x86_64"),
            agentVersion: "test",
            timing: timing,
            logger: logger,
            onReady: { ready in
                readyContinuation.yield(ready)
                readyContinuation.finish()
            }
        )
        let running = Task { try await agent.run() }
        var iterator = readyStream.makeAsyncIterator()
        guard let ready = await iterator.next() else {
            try await running.value
            throw WaitTimeout("the agent stopped before it was ready")
        }
        return (running, ready)
    }

    /// Runs an agent until `body` returns (without removing anything afterwards).
    static func runAgent(
        configuration: BerthConfiguration,
        controlPlane: RecordingControlPlane,
        docker: DockerEngineClient,
        store: any AgentStateStore,
        agentDocker: @Sendable (DockerEngineClient) -> any DockerClient = { $0 },
        _ body: (AgentHarness) async throws -> Void
    ) async throws {
        var timing = Agent.Timing()
        timing.reconcileInterval = .seconds(2)
        timing.heartbeatInterval = .seconds(1)
        let (running, ready) = try await startAgent(
            configuration: configuration,
            connection: InProcessAgentChannel(handler: controlPlane),
            docker: agentDocker(docker),
            store: store,
            timing: timing
        )
        defer { running.cancel() }
        let harness = AgentHarness(
            controlPlane: controlPlane,
            docker: docker,
            instanceArn: ready.instance.containerInstanceArn,
            engine: ready.engine,
            cluster: configuration.cluster.value,
            ready: ready
        )
        do {
            try await body(harness)
        } catch {
            running.cancel()
            _ = try? await running.value
            throw error
        }
        running.cancel()
        try await running.value
    }

    // MARK: Tasks

    /// Sends a task to the agent and returns its ARN.
    @discardableResult
    func run(
        _ containers: [ContainerDefinition],
        volumes: [BerthModel.Volume] = [],
        family: String = "it",
        taskArn: String? = nil
    ) async -> String {
        let arn = taskArn ?? "arn:aws:ecs:us-east-1:123456789012:task/\(cluster)/\(UUID().uuidString.lowercased())"
        let payload = TaskPayload(
            taskArn: arn,
            clusterArn: await controlPlane.clusterArn,
            family: family,
            revision: 1,
            containers: containers,
            volumes: volumes
        )
        await controlPlane.send([payload], to: instanceArn)
        return arn
    }

    func stop(_ taskArn: String, reason: String = "Stopped by the test") async {
        guard let record = await engine.taskRecords.first(where: { $0.arn == taskArn }) else { return }
        var payload = record.payload
        payload.desiredStatus = .stopped
        payload.stoppedReason = reason
        payload.stopCode = .userInitiated
        await controlPlane.send([payload], to: instanceArn)
    }

    func waitFor(
        _ taskArn: String,
        _ status: BackendStatus,
        timeout: Duration = TestEnvironment.loadedWait
    ) async throws
        -> RecordingControlPlane.TaskView
    {
        do {
            return try await controlPlane.waitForStatus(taskArn, status, timeout: timeout)
        } catch let timeout as WaitTimeout {
            throw WaitTimeout("\(timeout.description)\n\(await diagnosis(of: taskArn))")
        }
    }

    /// What the agent and Docker show of a task, for a wait that ran out: where each container is in the
    /// engine (and which call is in flight for it), and what Docker says of it.
    func diagnosis(of taskArn: String) async -> String {
        guard let record = await engine.taskRecords.first(where: { $0.arn == taskArn }) else {
            return "the agent has no record of the task"
        }
        var lines = ["agent: task \(record.knownStatus) desired \(record.desiredStatus)"]
        for container in record.containers {
            var line =
                "  \(container.name): known \(container.knownStatus) desired \(container.desiredStatus) in flight \(container.transition.map { "\($0)" } ?? "-") retry after \(container.retryAfter.map { "\($0)" } ?? "-")"
            if let id = container.dockerID {
                if let inspect = try? await docker.inspectContainer(id) {
                    line += "; docker: \(inspect.state.status) exit \(inspect.state.exitCode)"
                } else {
                    line += "; docker: cannot inspect \(id)"
                }
            }
            lines.append(line)
        }
        lines.append("agent log of the task:")
        lines += CapturedLog.lines(mentioning: taskArn).suffix(60).map { "  \($0)" }
        return lines.joined(separator: "\n")
    }

    func dockerID(_ view: RecordingControlPlane.TaskView, _ container: String) throws -> String {
        guard let id = view.containers[container]?.runtimeId else {
            throw WaitTimeout("container \(container) has no runtime ID in \(view)")
        }
        return id
    }
}

/// A container of the local test image running `script` with busybox's shell.
func shell(_ name: String, _ script: String, essential: Bool = true) -> ContainerDefinition {
    var definition = ContainerDefinition(name: name, image: TestEnvironment.localImage)
    definition.command = ["sh", "-c", script]
    definition.essential = essential
    definition.memory = 64
    return definition
}
