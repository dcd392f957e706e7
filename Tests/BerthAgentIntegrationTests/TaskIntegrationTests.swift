import AsyncHTTPClient
import BerthAgent
import BerthConfig
import BerthModel
import BerthTestSupport
import DockerEngine
import Foundation
import NIOCore
import Testing

/// Tasks run by the agent on the real dockerd, checked through what the control plane hears and what
/// Docker and the host show.
@Suite("Agent on dockerd: tasks")
struct TaskIntegrationTests {
    @Test("one container: RUNNING with its ECS name and labels, then STOPPED with exit code and reason")
    func oneContainer() async throws {
        try await AgentHarness.withAgent("one") { agent in
            let arn = await agent.run([shell("app", "sleep 600")], family: "one")
            let running = try await agent.waitFor(arn, .running)
            let id = try agent.dockerID(running, "app")
            let inspect = try await agent.docker.inspectContainer(id)
            #expect(inspect.plainName.hasPrefix("ecs-one-1-app-"))
            let labels = inspect.configuration?.labels ?? [:]
            #expect(labels["com.amazonaws.ecs.task-arn"] == arn)
            #expect(labels["com.amazonaws.ecs.container-name"] == "app")
            #expect(labels["com.amazonaws.ecs.task-definition-family"] == "one")
            #expect(labels["com.amazonaws.ecs.task-definition-version"] == "1")
            #expect(labels["com.amazonaws.ecs.cluster"] == agent.cluster)

            await agent.stop(arn)
            let stopped = try await agent.waitFor(arn, .stopped)
            #expect(stopped.stopCode == .userInitiated)
            #expect(stopped.reason == "Stopped by the test")
            #expect(stopped.containers["app"]?.status == .stopped)
            #expect(stopped.containers["app"]?.exitCode != nil)
            let sequences = await agent.controlPlane.changes(of: arn).map(\.sequence)
            #expect(sequences == Array(1...sequences.count))
        }
    }

    @Test("links: the alias resolves and the link's environment is injected")
    func links() async throws {
        try await AgentHarness.withAgent("links") { agent in
            var database = shell("db", "sleep 600", essential: false)
            database.environment = [KeyValuePair(name: "SECRET_WORD", value: "swordfish")]
            var web = shell(
                "web",
                "grep -qw database /etc/hosts && test \"$DATABASE_ENV_SECRET_WORD\" = swordfish && exit 0; exit 9"
            )
            web.links = ["db:database"]
            let arn = await agent.run([database, web])
            let stopped = try await agent.waitFor(arn, .stopped)
            #expect(stopped.containers["web"]?.exitCode == 0)
            #expect(stopped.stopCode == .essentialContainerExited)
            #expect(stopped.reason == "Essential container in task exited")
        }
    }

    @Test("a host volume is written by the container and seen on the host")
    func hostVolume() async throws {
        let directory = NSTemporaryDirectory() + "berth-it-host-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await AgentHarness.withAgent("hostvol") { agent in
            var writer = shell("writer", "echo written-by-berth > /out/result.txt")
            writer.mountPoints = [MountPoint(sourceVolume: "out", containerPath: "/out")]
            let arn = await agent.run(
                [writer],
                volumes: [BerthModel.Volume(name: "out", host: HostVolumeProperties(sourcePath: directory))]
            )
            let stopped = try await agent.waitFor(arn, .stopped)
            #expect(stopped.containers["writer"]?.exitCode == 0)
            let text = try String(contentsOfFile: directory + "/result.txt", encoding: .utf8)
            #expect(text == "written-by-berth\n")
        }
    }

    @Test("a scratch volume is shared by two containers; dependsOn SUCCESS orders them")
    func scratchVolumeAndSuccessOrdering() async throws {
        try await AgentHarness.withAgent("scratch") { agent in
            var writer = shell("writer", "echo shared > /scratch/file", essential: false)
            writer.mountPoints = [MountPoint(sourceVolume: "scratch", containerPath: "/scratch")]
            var reader = shell("reader", "test \"$(cat /scratch/file)\" = shared")
            reader.mountPoints = [MountPoint(sourceVolume: "scratch", containerPath: "/scratch")]
            reader.dependsOn = [ContainerDependency(containerName: "writer", condition: .success)]
            let arn = await agent.run([writer, reader], volumes: [BerthModel.Volume(name: "scratch")])
            let stopped = try await agent.waitFor(arn, .stopped)
            #expect(stopped.containers["writer"]?.exitCode == 0)
            #expect(stopped.containers["reader"]?.exitCode == 0)
            // The reader was created only after the writer exited.
            let writerInspect = try await agent.docker.inspectContainer(try agent.dockerID(stopped, "writer"))
            let readerInspect = try await agent.docker.inspectContainer(try agent.dockerID(stopped, "reader"))
            #expect(writerInspect.state.finishedAt <= readerInspect.state.startedAt)
        }
    }

    @Test("volumesFrom with readOnly mounts the source's volumes read-only")
    func volumesFromReadOnly() async throws {
        try await AgentHarness.withAgent("volfrom") { agent in
            var source = shell("source", "echo hello > /data/greeting; sleep 600", essential: false)
            source.mountPoints = [MountPoint(sourceVolume: "data", containerPath: "/data")]
            var consumer = shell(
                "consumer",
                // The source writes after it starts: wait for its line (up to 20 s) rather than a fixed second.
                "for i in $(seq 1 200); do [ \"$(cat /data/greeting 2>/dev/null)\" = hello ] && break; sleep 0.1; done; "
                    + "test \"$(cat /data/greeting)\" = hello || exit 3; touch /data/other 2>/dev/null && exit 4; exit 0"
            )
            consumer.volumesFrom = [VolumeFrom(sourceContainer: "source", readOnly: true)]
            let arn = await agent.run([source, consumer], volumes: [BerthModel.Volume(name: "data")])
            let stopped = try await agent.waitFor(arn, .stopped)
            #expect(stopped.containers["consumer"]?.exitCode == 0)
        }
    }

    @Test("a fixed port mapping is reachable over HTTP; a dynamic one is chosen, reported and reachable")
    func portMappings() async throws {
        let fixedPort = try freeTCPPort()
        try await AgentHarness.withAgent("ports") { agent in
            var fixed = shell("fixed", "mkdir -p /www; echo fixed-page > /www/index.html; httpd -f -p 8080 -h /www")
            fixed.portMappings = [PortMapping(containerPort: 8080, hostPort: fixedPort)]
            var dynamic = shell("dynamic", "mkdir -p /www; echo dynamic-page > /www/index.html; httpd -f -p 80 -h /www")
            dynamic.portMappings = [
                PortMapping(containerPort: 80, hostPort: 0), PortMapping(containerPort: 53, protocol: .udp),
            ]
            let arn = await agent.run([fixed, dynamic])
            let running = try await agent.waitFor(arn, .running)

            let fixedBindings = running.containers["fixed"]?.networkBindings ?? []
            #expect(fixedBindings.contains { $0.hostPort == fixedPort && $0.containerPort == 8080 })
            let dynamicBindings = running.containers["dynamic"]?.networkBindings ?? []
            let tcp = try #require(dynamicBindings.first { $0.containerPort == 80 && $0.protocol == .tcp })
            let udp = try #require(dynamicBindings.first { $0.containerPort == 53 && $0.protocol == .udp })
            #expect(tcp.hostPort >= 49153 && tcp.hostPort <= 60999)
            #expect(udp.hostPort >= 49153 && udp.hostPort <= 60999)
            // What Docker published is what was reported.
            let inspect = try await agent.docker.inspectContainer(try agent.dockerID(running, "dynamic"))
            let published = inspect.networkSettings?.ports[ContainerPort(80)]?.compactMap(\.hostPort) ?? []
            #expect(published.contains(String(tcp.hostPort)))

            #expect(try await httpGet(port: fixedPort) == "fixed-page\n")
            #expect(try await httpGet(port: tcp.hostPort) == "dynamic-page\n")
            await agent.stop(arn)
            _ = try await agent.waitFor(arn, .stopped)
        }
    }

    @Test("a non-essential container's exit leaves the task running; the essential one's stops it")
    func essentialAndNonEssential() async throws {
        try await AgentHarness.withAgent("essential") { agent in
            let arn = await agent.run([shell("app", "sleep 600"), shell("sidecar", "exit 7", essential: false)])
            // The sidecar may exit before the app runs; either way the task goes on to RUNNING.
            let afterSidecar = try await agent.controlPlane.waitForTask(arn) {
                $0.containers["sidecar"]?.status == .stopped && $0.status == .running
            }
            // The report that carries the sidecar's STOPPED carries the task's status the engine decided on
            // with it: still RUNNING.
            #expect(afterSidecar.containers["sidecar"]?.exitCode == 7)
            #expect(afterSidecar.status == .running)

            let appID = try agent.dockerID(afterSidecar, "app")
            try await agent.docker.stopContainer(appID, gracePeriod: .seconds(1))
            let stopped = try await agent.waitFor(arn, .stopped)
            #expect(stopped.stopCode == .essentialContainerExited)
            #expect(stopped.reason == "Essential container in task exited")
        }
    }

    /// A container that builds a 200 MB string under a 16 MiB limit: the kernel kills it.
    static func memoryHog() -> ContainerDefinition {
        var hog = shell("hog", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}")
        hog.memory = 16
        return hog
    }

    @Test("a container over its memory limit stops with OutOfMemoryError")
    func outOfMemory() async throws {
        try await AgentHarness.withAgent("oom") { agent in
            let arn = await agent.run([Self.memoryHog()])
            let stopped = try await agent.waitFor(arn, .stopped)
            let container = try #require(stopped.containers["hog"])
            #expect(container.exitCode == 137)
            #expect(container.reason?.hasPrefix("OutOfMemoryError:") == true, "\(String(describing: container.reason))")
        }
    }

    @Test("an OOM kill whose oom event comes after the exit (dockerd 20.10 under load) is still OutOfMemoryError")
    func outOfMemoryEventAfterExit() async throws {
        let docker: @Sendable (DockerEngineClient) -> any DockerClient = { InterceptingDocker.lateOutOfMemory($0) }
        try await AgentHarness.withAgent("oom-late", agentDocker: docker) { agent in
            let arn = await agent.run([Self.memoryHog()])
            let stopped = try await agent.waitFor(arn, .stopped)
            let container = try #require(stopped.containers["hog"])
            #expect(container.exitCode == 137)
            #expect(container.reason == ContainerSpec.outOfMemoryReason)
            // Reported once, with its reason: no change said STOPPED without it.
            let stops = await agent.controlPlane.changes(of: arn).flatMap(\.containers).filter {
                $0.containerName == "hog" && $0.status == .stopped
            }
            #expect(!stops.isEmpty && stops.allSatisfy { $0.reason == ContainerSpec.outOfMemoryReason }, "\(stops)")
        }
    }

    @Test("a create still in flight in dockerd when its name is refused: waited for and adopted, never made twice")
    func createStillInFlight() async throws {
        let docker: @Sendable (DockerEngineClient) -> any DockerClient = {
            InterceptingDocker.createStillInFlight($0, reservedLookups: 3)
        }
        try await AgentHarness.withAgent("inflight", agentDocker: docker) { agent in
            let arn = await agent.run([shell("app", "sleep 600")])
            let running = try await agent.waitFor(arn, .running)
            let dockerID = try agent.dockerID(running, "app")
            let listed = try await agent.docker.listContainers(
                all: true,
                filters: ["label": ["\(ContainerSpec.Label.taskArn)=\(arn)"]]
            )
            #expect(listed.map(\.id) == [dockerID])
            await agent.stop(arn)
            _ = try await agent.waitFor(arn, .stopped)
        }
    }

    @Test("an exit with 137 that was no OOM kill is reported once the wait for Docker's oom event ends, with no reason")
    func killedButNotOutOfMemory() async throws {
        try await AgentHarness.withAgent("exit137") { agent in
            let arn = await agent.run([shell("app", "exit 137")])
            let stopped = try await agent.waitFor(arn, .stopped)
            let container = try #require(stopped.containers["app"])
            #expect(container.exitCode == 137)
            #expect(container.reason == nil)
            #expect(stopped.stopCode == .essentialContainerExited)
        }
    }

    @Test("an image that does not exist: CannotPullContainerError, and the task stops")
    func unknownImage() async throws {
        let pullEveryTime: Configure = { $0.imagePullBehavior = .default }
        try await AgentHarness.withAgent("pullfail", configure: pullEveryTime) { agent in
            let image =
                "\(TestEnvironment.openRegistry)/berth/does-not-exist:\(UUID().uuidString.prefix(8).lowercased())"
            let arn = await agent.run([ContainerDefinition(name: "app", image: image)])
            let stopped = try await agent.waitFor(arn, .stopped)
            let reason = try #require(stopped.containers["app"]?.reason)
            #expect(reason.hasPrefix("CannotPullContainerError:"), "\(reason)")
            #expect(stopped.stopCode == .taskFailedToStart)
        }
    }

    @Test("a private registry with basic auth: pulled with ECS_ENGINE_AUTH_DATA, refused without")
    func privateRegistry() async throws {
        let image = TestEnvironment.image(in: TestEnvironment.authRegistry, repository: "agent-busybox")
        let alwaysPull: Configure = { $0.imagePullBehavior = .always }
        try await AgentHarness.withAgent("noauth", configure: alwaysPull) { agent in
            _ = try? await agent.docker.removeImage(image, force: true, prune: false)
            let arn = await agent.run([ContainerDefinition(name: "app", image: image)])
            let stopped = try await agent.waitFor(arn, .stopped)
            #expect(stopped.containers["app"]?.reason?.hasPrefix("CannotPullContainerError:") == true)
        }
        let withCredentials: Configure = {
            $0.imagePullBehavior = .always
            $0.engineAuthentication = try EngineAuthentication(
                type: .docker,
                data: """
                    {"\(TestEnvironment.authRegistry)":{"username":"\(TestEnvironment.registryUser)",\
                    "password":"\(TestEnvironment.registryPassword)"}}
                    """
            )
        }
        try await AgentHarness.withAgent("auth", configure: withCredentials) { agent in
            var app = shell("app", "exit 0")
            app.image = image
            let arn = await agent.run([app])
            let stopped = try await agent.waitFor(arn, .stopped)
            #expect(stopped.containers["app"]?.exitCode == 0, "\(stopped)")
            #expect(stopped.containers["app"]?.imageDigest?.hasPrefix("sha256:") == true)
            _ = try? await agent.docker.removeImage(image, force: true, prune: false)
        }
    }

    @Test("a container that ignores SIGTERM is killed after its stopTimeout")
    func stopTimeoutEscalation() async throws {
        try await AgentHarness.withAgent("stoptimeout") { agent in
            var stubborn = shell("stubborn", "trap '' TERM; while true; do sleep 1; done")
            stubborn.stopTimeout = 2
            let arn = await agent.run([stubborn])
            let running = try await agent.waitFor(arn, .running)
            let id = try agent.dockerID(running, "stubborn")
            let since = DockerEventTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970) - 1)
            await agent.stop(arn)
            let stopped = try await agent.waitFor(arn, .stopped)
            #expect(stopped.containers["stubborn"]?.exitCode == 137)
            // Killed after the 2 s grace period, not the agent's 30 s default. The gap is dockerd's own, from its
            // SIGTERM to its SIGKILL: however loaded the machine, its timer does not fire 28 s late.
            let until = DockerEventTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970) + 1)
            var kills: [(signal: String, time: DockerEventTime)] = []
            for try await event in agent.docker.events(
                since: since,
                until: until,
                filters: ["type": ["container"], "container": [id]]
            ) where event.action == "kill" {
                kills.append((event.attributes["signal"] ?? "?", event.time))
            }
            #expect(kills.map(\.signal) == ["15", "9"])
            if kills.count == 2 {
                let gap = Duration.nanoseconds(
                    kills[1].time.nanosecondsSinceEpoch - kills[0].time.nanosecondsSinceEpoch
                )
                #expect(gap >= .seconds(2) && gap < .seconds(25), "SIGTERM to SIGKILL: \(gap)")
            }
        }
    }

    @Test("changes the control plane could not take are sent again, in order, until it takes them")
    func reportsRetried() async throws {
        try await AgentHarness.withAgent("retry") { agent in
            await agent.controlPlane.failSubmits(3)
            let arn = await agent.run([shell("app", "exit 0")])
            let stopped = try await agent.waitFor(arn, .stopped)
            #expect(stopped.containers["app"]?.exitCode == 0)
            let statuses = await agent.controlPlane.changes(of: arn).map(\.status)
            #expect(statuses == [.running, .stopped] || statuses == [.stopped])
        }
    }

    @Test("a stopped task's containers are removed after the cleanup wait, once STOPPED was acknowledged")
    func cleanup() async throws {
        let shortCleanupWait: Configure = { $0.taskCleanupWaitDuration = .seconds(1) }
        try await AgentHarness.withAgent("cleanup", configure: shortCleanupWait) { agent in
            var app = shell("app", "exit 0")
            app.mountPoints = [MountPoint(sourceVolume: "scratch", containerPath: "/scratch")]
            let arn = await agent.run([app], volumes: [BerthModel.Volume(name: "scratch")])
            let stopped = try await agent.waitFor(arn, .stopped)
            let id = try agent.dockerID(stopped, "app")
            let deadline = ContinuousClock.now + TestEnvironment.loadedWait
            while await agent.engine.taskRecords.contains(where: { $0.arn == arn }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            await #expect(throws: DockerError.self) { _ = try await agent.docker.inspectContainer(id) }
            let volumes = try await agent.docker.listVolumes(filters: [
                "label": ["\(ContainerSpec.Label.taskArn)=\(arn)"]
            ])
            #expect(volumes.isEmpty)
        }
    }
}

/// A TCP port nothing listens on now.
func freeTCPPort() throws -> Int {
    for port in (20000...29999).shuffled() where PortProbe.isFree(port, .tcp) { return port }
    throw WaitTimeout("no free port")
}

/// GETs `/` on a loopback port, retrying while the server comes up.
func httpGet(port: Int) async throws -> String {
    try await fetchWhenServing("http://127.0.0.1:\(port)/")
}
