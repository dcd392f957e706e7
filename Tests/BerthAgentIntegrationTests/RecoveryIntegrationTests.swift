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

/// The agent stops (its state kept in SQLite), things happen while it is away, and a new agent takes over.
@Suite("Agent on dockerd: restart and recovery")
struct RecoveryIntegrationTests {
    /// Runs `first`, stops that agent, runs `between` with only Docker, then runs a second agent with the same
    /// state directory and control plane and hands it to `second`.
    static func acrossRestart(
        _ name: String,
        first: (AgentHarness) async throws -> Void,
        between: (DockerEngineClient, String) async throws -> Void = { _, _ in },
        second: (AgentHarness) async throws -> Void
    ) async throws {
        let directory = NSTemporaryDirectory() + "berth-it-recovery-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = AgentHarness.uniqueCluster(name)
        let configuration = try AgentHarness.configuration(cluster: cluster)
        let controlPlane = RecordingControlPlane(cluster: cluster)
        try await AgentHarness.withDocker(cluster: cluster) { docker in
            try await AgentHarness.runAgent(
                configuration: configuration,
                controlPlane: controlPlane,
                docker: docker,
                store: try SQLiteAgentStore(directory: directory),
                first
            )
            try await between(docker, cluster)
            try await AgentHarness.runAgent(
                configuration: configuration,
                controlPlane: controlPlane,
                docker: docker,
                store: try SQLiteAgentStore(directory: directory),
                second
            )
        }
    }

    @Test("after a restart the agent keeps its ARN and adopts running containers without making new ones")
    func adoptsRunningContainers() async throws {
        let state = Mutex<(arn: String, instance: String, id: String)?>(nil)
        try await Self.acrossRestart(
            "adopt",
            first: { agent in
                let arn = await agent.run([shell("app", "sleep 600")])
                let running = try await agent.waitFor(arn, .running)
                let id = try agent.dockerID(running, "app")
                state.withLock { $0 = (arn, agent.instanceArn, id) }
            },
            second: { agent in
                let (arn, instance, id) = try #require(state.withLock { $0 })
                #expect(agent.instanceArn == instance)
                #expect(await agent.controlPlane.registrations.last?.containerInstanceArn == instance)
                #expect(agent.ready.recovery.adoptedContainers == 1)
                #expect(agent.ready.recovery.removedContainers.isEmpty)
                let listed = try await agent.docker.listContainers(
                    all: true,
                    filters: ["label": ["\(ContainerSpec.Label.taskArn)=\(arn)"]]
                )
                #expect(listed.map(\.id) == [id])
                #expect(try await agent.docker.inspectContainer(id).state.running)
                // The adopted container is the task's: stopping the task stops it.
                await agent.stop(arn)
                let stopped = try await agent.waitFor(arn, .stopped)
                #expect(stopped.containers["app"]?.runtimeId == id)
                #expect(try await agent.docker.inspectContainer(id).state.running == false)
            }
        )
    }

    @Test("what happened while the agent was away is reported: an exit, a vanished container")
    func catchesUpOnChanges() async throws {
        let state = Mutex<(exited: String, vanished: String, exitedID: String, vanishedID: String)?>(nil)
        try await Self.acrossRestart(
            "catchup",
            first: { agent in
                let exited = await agent.run([shell("app", "sleep 600")])
                let vanished = await agent.run([shell("app", "sleep 600")])
                let exitedID = try agent.dockerID(try await agent.waitFor(exited, .running), "app")
                let vanishedID = try agent.dockerID(try await agent.waitFor(vanished, .running), "app")
                state.withLock { $0 = (exited, vanished, exitedID, vanishedID) }
            },
            between: { docker, _ in
                let (_, _, exitedID, vanishedID) = try #require(state.withLock { $0 })
                try await docker.stopContainer(exitedID, gracePeriod: .seconds(1))
                try await docker.removeContainer(vanishedID, removeVolumes: true, force: true)
            },
            second: { agent in
                let (exited, vanished, _, _) = try #require(state.withLock { $0 })
                let exitedView = try await agent.waitFor(exited, .stopped)
                #expect(exitedView.containers["app"]?.exitCode == 137 || exitedView.containers["app"]?.exitCode == 143)
                #expect(exitedView.stopCode == .essentialContainerExited)
                let vanishedView = try await agent.waitFor(vanished, .stopped)
                #expect(vanishedView.containers["app"]?.reason?.hasPrefix("ContainerVanishedError:") == true)
                #expect(agent.ready.recovery.vanishedContainers == 1)
            }
        )
    }

    @Test("a container labelled for the cluster that no task claims is removed at start")
    func removesOrphans() async throws {
        let orphan = Mutex<String?>(nil)
        try await Self.acrossRestart(
            "orphan",
            first: { _ in },
            between: { docker, cluster in
                var configuration = ContainerConfiguration(image: TestEnvironment.localImage)
                configuration.cmd = ["sleep", "600"]
                configuration.labels = [
                    ContainerSpec.Label.cluster: cluster,
                    ContainerSpec.Label.taskArn: "arn:aws:ecs:us-east-1:123456789012:task/\(cluster)/unknown",
                    ContainerSpec.Label.containerName: "app",
                ]
                let name = "ecs-orphan-1-app-\(UUID().uuidString.prefix(8).lowercased())"
                let created = try await docker.createContainer(
                    name: name,
                    ContainerCreateRequest(configuration: configuration)
                )
                try await docker.startContainer(created.id)
                orphan.withLock { $0 = created.id }
            },
            second: { agent in
                let id = try #require(orphan.withLock { $0 })
                #expect(agent.ready.recovery.removedContainers.count == 1)
                await #expect(throws: DockerError.self) { _ = try await agent.docker.inspectContainer(id) }
            }
        )
    }

    @Test("state changes the control plane never took are sent after the restart")
    func resendsUnacknowledgedChanges() async throws {
        let arnBox = Mutex<String?>(nil)
        try await Self.acrossRestart(
            "resend",
            first: { agent in
                await agent.controlPlane.failSubmits(1_000_000)
                let arn = await agent.run([shell("app", "exit 0")])
                arnBox.withLock { $0 = arn }
                // The task runs and stops; none of it reaches the control plane.
                let deadline = ContinuousClock.now + TestEnvironment.loadedWait
                while ContinuousClock.now < deadline {
                    if await agent.engine.taskRecords.first(where: { $0.arn == arn })?.isStopped == true { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(await agent.controlPlane.view(of: arn) == nil)
            },
            second: { agent in
                let arn = try #require(arnBox.withLock { $0 })
                #expect(await agent.controlPlane.view(of: arn) == nil)
                await agent.controlPlane.failSubmits(0)
                let stopped = try await agent.waitFor(arn, .stopped)
                #expect(stopped.containers["app"]?.exitCode == 0)
            }
        )
    }
}

@Suite("Agent on dockerd: task manifests")
struct ManifestIntegrationTests {
    @Test(
        "a manifest stops only what the control plane confirms: a task it forgot stops, a listed one runs on, a stale manifest does nothing"
    )
    func manifest() async throws {
        try await AgentHarness.withAgent("manifest") { agent in
            let kept = await agent.run([shell("app", "trap 'exit 0' TERM; while true; do sleep 1; done")])
            let forgotten = await agent.run([shell("app", "trap 'exit 0' TERM; while true; do sleep 1; done")])
            _ = try await agent.waitFor(kept, .running)
            _ = try await agent.waitFor(forgotten, .running)

            // The control plane lost the second task: its manifest lists the first alone.
            await agent.controlPlane.forget(forgotten)
            let listed = TaskManifest.Entry(taskArn: kept, desiredStatus: .running)
            #expect(
                await agent.controlPlane.sendManifest(
                    TaskManifest(messageID: "m2", timeline: 2, tasks: [listed]),
                    to: agent.instanceArn
                )
            )
            let stopped = try await agent.waitFor(forgotten, .stopped)
            #expect(stopped.reason?.contains("no longer places it") == true, "\(stopped)")
            #expect(await agent.controlPlane.stopVerifications == [[forgotten]])

            // Older than the last: ignored, no question asked. Newer and empty: the first task is asked about,
            // and the control plane, which still places it, does not confirm it.
            await agent.controlPlane.sendManifest(
                TaskManifest(messageID: "m1", timeline: 1, tasks: []),
                to: agent.instanceArn
            )
            await agent.controlPlane.sendManifest(
                TaskManifest(messageID: "m3", timeline: 3, tasks: []),
                to: agent.instanceArn
            )
            // The stream is ordered: once a task sent after the manifests runs, both were handled.
            let later = await agent.run([shell("app", "trap 'exit 0' TERM; while true; do sleep 1; done")])
            _ = try await agent.waitFor(later, .running)
            #expect(await agent.controlPlane.stopVerifications == [[forgotten], [kept]])
            let record = try #require(await agent.engine.taskRecords.first { $0.arn == kept })
            #expect(record.desiredStatus == .running && !record.isStopped)
        }
    }
}
