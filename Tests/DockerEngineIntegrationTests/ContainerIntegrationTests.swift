import AsyncHTTPClient
import BerthTestSupport
import DockerEngine
import Foundation
import NIOCore
import Testing

@Suite("dockerd: containers, volumes and events")
struct ContainerIntegrationTests {
    static let image = TestEnvironment.localImage

    /// A web server container serving `directory` on container port 80, published on a dynamic host port,
    /// with 53/udp published too.
    static func webServer(serving directory: URL, run: String) -> ContainerCreateRequest {
        var configuration = ContainerConfiguration(image: image)
        configuration.cmd = ["httpd", "-f", "-p", "80", "-h", "/www"]
        configuration.labels = ["berth.test.run": run, "berth.test.role": "web"]
        configuration.exposedPorts = [ContainerPort(80), ContainerPort(53, "udp")]
        var host = HostConfiguration()
        host.binds = ["\(directory.path):/www:ro"]
        host.portBindings = [ContainerPort(80): [PortBinding(hostPort: "")], ContainerPort(53, "udp"): [PortBinding()]]
        host.memory = 64 * 1_048_576
        host.cpuShares = 128
        return ContainerCreateRequest(configuration: configuration, hostConfiguration: host)
    }

    @Test("create, start, inspect, stop and remove with links, binds, volumesFrom and port mappings")
    func lifecycle() async throws {
        try await withDocker { docker in
            try await withTemporaryDirectory { site in
                try await withTemporaryDirectory { output in
                    let run = uniqueName("run")
                    let webName = uniqueName("web")
                    let clientName = uniqueName("client")
                    do {
                        // Events are replayed afterwards from this instant (a second early for clock granularity).
                        let began = DockerEventTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970) - 1)
                        // Followed live from the start: dockerd keeps only its last 256 events, which tests
                        // running beside this one can push out before a replay would read them.
                        let lifecycle: Set = ["create", "start", "die", "stop", "destroy"]
                        let filters: DockerFilters = ["type": ["container"], "label": ["berth.test.run=\(run)"]]
                        let followed = Task {
                            var actions: [String: [String]] = [:]
                            for try await event in docker.events(since: began, filters: filters)
                            where lifecycle.contains(event.action) {
                                actions[event.actorID, default: []].append(event.action)
                                if actions.values.filter({ $0.last == "destroy" }).count == 2 { break }
                            }
                            return actions
                        }
                        defer { followed.cancel() }
                        try "served-by-berth\n".write(
                            to: site.appendingPathComponent("index.html"),
                            atomically: true,
                            encoding: .utf8
                        )

                        let web = try await docker.createContainer(
                            name: webName,
                            Self.webServer(serving: site, run: run)
                        )
                        let created = try await docker.inspectContainer(web.id)
                        #expect(created.plainName == webName)
                        #expect(created.state.status == "created")
                        #expect(created.configuration?.labels?["berth.test.run"] == run)
                        #expect(created.hostConfiguration?.memory == Int64(64 * 1_048_576))

                        let started = try await docker.startContainer(web.id)
                        #expect(started)
                        let startedAgain = try await docker.startContainer(web.id)
                        #expect(!startedAgain, "starting a running container changes nothing")

                        let running = try await docker.inspectContainer(web.id)
                        #expect(running.state.running)
                        let tcp = try #require(
                            running.networkSettings?.ports[ContainerPort(80)]?.compactMap(\.hostPortNumber).first
                        )
                        let udp = try #require(
                            running.networkSettings?.ports[ContainerPort(53, "udp")]?.compactMap(\.hostPortNumber).first
                        )
                        #expect(tcp > 0 && udp > 0)
                        #expect(running.mounts.contains { $0.destination == "/www" && !$0.readWrite })

                        // The mapped port serves the bind-mounted file.
                        let body = try await fetchWhenServing("http://127.0.0.1:\(tcp)/index.html")
                        #expect(body == "served-by-berth\n")

                        // A second container reaches the first through a link alias and sees its volumes.
                        var configuration = ContainerConfiguration(image: Self.image)
                        configuration.cmd = [
                            "sh", "-c",
                            "grep -q webalias /etc/hosts && wget -qO /out/linked http://webalias/index.html && cat /www/index.html > /out/volumes-from",
                        ]
                        configuration.labels = ["berth.test.run": run]
                        var host = HostConfiguration()
                        host.links = ["\(webName):webalias"]
                        host.volumesFrom = ["\(webName):ro"]
                        host.binds = ["\(output.path):/out"]
                        let client = try await docker.createContainer(
                            name: clientName,
                            ContainerCreateRequest(configuration: configuration, hostConfiguration: host)
                        )
                        try await docker.startContainer(client.id)
                        let finished = try await docker.waitUntilExited(client.id)
                        #expect(finished.exitCode == 0)
                        #expect(
                            try String(contentsOf: output.appendingPathComponent("linked"), encoding: .utf8)
                                == "served-by-berth\n"
                        )
                        #expect(
                            try String(contentsOf: output.appendingPathComponent("volumes-from"), encoding: .utf8)
                                == "served-by-berth\n"
                        )

                        let listed = try await docker.listContainers(filters: ["label": ["berth.test.run=\(run)"]])
                        #expect(Set(listed.map(\.id)) == [web.id, client.id])

                        let stopped = try await docker.stopContainer(web.id, gracePeriod: .seconds(1))
                        #expect(stopped)
                        let stoppedAgain = try await docker.stopContainer(web.id, gracePeriod: .seconds(1))
                        #expect(!stoppedAgain, "stopping a stopped container changes nothing")
                        let state = try await docker.inspectContainer(web.id).state
                        #expect(!state.running && state.hasExited)

                        try await docker.removeContainer(client.id)
                        try await docker.removeContainer(web.id)
                        let gone = await #expect(throws: DockerError.self) { try await docker.inspectContainer(web.id) }
                        #expect(gone?.code == .notFound)

                        // dockerd saw both lives through, in order.
                        let timeout = Task {
                            try await Task.sleep(for: .seconds(30))
                            followed.cancel()
                        }
                        defer { timeout.cancel() }
                        let actions = try await followed.value
                        #expect(actions[web.id] == ["create", "start", "die", "stop", "destroy"])
                        #expect(actions[client.id] == ["create", "start", "die", "destroy"])
                    } catch {
                        await docker.cleanUp(containers: [webName, clientName])
                        throw error
                    }
                }
            }
        }
    }

    @Test("events for a container's life arrive in order, and a stream resumes from an event's time")
    func events() async throws {
        try await withDocker { docker in
            let run = uniqueName("events")
            let name = uniqueName("short")
            let filters: DockerFilters = ["type": ["container"], "label": ["berth.test.run=\(run)"]]
            // Follow events while the container lives, until it is destroyed; from a second before now, so
            // that none is missed however late the stream is opened.
            let since = DockerEventTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970) - 1)
            let follower = Task {
                var seen: [DockerEvent] = []
                for try await event in docker.events(since: since, filters: filters) {
                    seen.append(event)
                    if event.action == "destroy" { break }
                }
                return seen
            }
            var configuration = ContainerConfiguration(image: Self.image)
            configuration.cmd = ["sh", "-c", "exit 3"]
            configuration.labels = ["berth.test.run": run]
            do {
                let container = try await docker.createContainer(
                    name: name,
                    ContainerCreateRequest(configuration: configuration)
                )
                try await docker.startContainer(container.id)
                _ = try await docker.waitUntilExited(container.id)
                try await docker.removeContainer(container.id)

                let seen = try await follower.value
                #expect(seen.map(\.action) == ["create", "start", "die", "destroy"])
                #expect(seen.allSatisfy { $0.actorID == container.id })
                #expect(seen.first { $0.action == "die" }?.exitCode == 3)
                #expect(seen.first?.attributes["name"] == name)

                // Reopening from the start event's time replays from there; `until` ends the stream.
                let start = try #require(seen.first { $0.action == "start" })
                var replayed: [String] = []
                let now = DockerEventTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970) + 1)
                for try await event in docker.events(since: start.time, until: now, filters: filters) {
                    replayed.append(event.action)
                }
                #expect(replayed == ["start", "die", "destroy"])
            } catch {
                follower.cancel()
                await docker.cleanUp(containers: [name])
                throw error
            }
        }
    }

    @Test("stop escalates to SIGKILL after the grace period; kill sends a signal")
    func stopAndKill() async throws {
        try await withDocker { docker in
            let stubborn = uniqueName("stubborn")
            let killed = uniqueName("killed")
            var ignoresTerm = ContainerConfiguration(image: Self.image)
            ignoresTerm.cmd = ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
            var plain = ContainerConfiguration(image: Self.image)
            plain.cmd = ["sleep", "300"]
            do {
                let first = try await docker.createContainer(
                    name: stubborn,
                    ContainerCreateRequest(configuration: ignoresTerm)
                )
                let since = DockerEventTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970) - 1)
                try await docker.startContainer(first.id)
                try await docker.stopContainer(first.id, gracePeriod: .seconds(1))
                #expect(try await docker.inspectContainer(first.id).state.exitCode == 137)
                // dockerd's own record of the stop, not a clock: SIGTERM, then SIGKILL once the grace ran out.
                let until = DockerEventTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970) + 1)
                var signals: [String] = []
                for try await event in docker.events(
                    since: since,
                    until: until,
                    filters: ["type": ["container"], "container": [first.id]]
                ) where event.action == "kill" {
                    signals.append(event.attributes["signal"] ?? "?")
                }
                #expect(signals == ["15", "9"])

                let second = try await docker.createContainer(
                    name: killed,
                    ContainerCreateRequest(configuration: plain)
                )
                try await docker.startContainer(second.id)
                try await docker.killContainer(second.id, signal: "SIGKILL")
                let state = try await docker.waitUntilExited(second.id)
                #expect(state.exitCode == 137)
                let notRunning = await #expect(throws: DockerError.self) { try await docker.killContainer(second.id) }
                #expect(notRunning?.code == .conflict)
            } catch {
                await docker.cleanUp(containers: [stubborn, killed])
                throw error
            }
            await docker.cleanUp(containers: [stubborn, killed])
        }
    }

    @Test("name conflicts, missing containers and missing images are told apart")
    func conflicts() async throws {
        try await withDocker { docker in
            let name = uniqueName("twice")
            do {
                _ = try await docker.createContainer(
                    name: name,
                    ContainerCreateRequest(configuration: .init(image: Self.image))
                )
                let twice = await #expect(throws: DockerError.self) {
                    try await docker.createContainer(
                        name: name,
                        ContainerCreateRequest(configuration: .init(image: Self.image))
                    )
                }
                #expect(twice?.code == .conflict)
                let missing = await #expect(throws: DockerError.self) {
                    try await docker.startContainer(uniqueName("nope"))
                }
                #expect(missing?.code == .notFound)
                let noImage = await #expect(throws: DockerError.self) {
                    try await docker.createContainer(
                        name: uniqueName("noimage"),
                        ContainerCreateRequest(configuration: .init(image: "berth-test/\(uniqueName("absent")):latest"))
                    )
                }
                #expect(noImage?.code == .notFound)
            } catch {
                await docker.cleanUp(containers: [name])
                throw error
            }
            await docker.cleanUp(containers: [name])
        }
    }

    @Test("volumes: create, inspect, use, refuse removal while used, remove")
    func volumes() async throws {
        try await withDocker { docker in
            let volumeName = uniqueName("vol")
            let writer = uniqueName("writer")
            do {
                let volume = try await docker.createVolume(
                    VolumeCreateRequest(name: volumeName, driver: "local", labels: ["berth.test": "yes"])
                )
                #expect(volume.name == volumeName)
                #expect(volume.driver == "local")
                #expect(try await docker.inspectVolume(volumeName).labels["berth.test"] == "yes")

                var configuration = ContainerConfiguration(image: Self.image)
                configuration.cmd = ["sh", "-c", "echo kept > /data/file"]
                var host = HostConfiguration()
                host.binds = ["\(volumeName):/data"]
                let container = try await docker.createContainer(
                    name: writer,
                    ContainerCreateRequest(configuration: configuration, hostConfiguration: host)
                )
                try await docker.startContainer(container.id)
                #expect(try await docker.waitUntilExited(container.id).exitCode == 0)
                #expect(try await docker.inspectContainer(container.id).mounts.contains { $0.name == volumeName })

                let inUse = await #expect(throws: DockerError.self) { try await docker.removeVolume(volumeName) }
                #expect(inUse?.code == .conflict)

                // Removing the container with its volumes leaves named volumes alone.
                try await docker.removeContainer(container.id, removeVolumes: true)
                _ = try await docker.inspectVolume(volumeName)
                try await docker.removeVolume(volumeName)
                let gone = await #expect(throws: DockerError.self) { try await docker.inspectVolume(volumeName) }
                #expect(gone?.code == .notFound)
            } catch {
                await docker.cleanUp(containers: [writer], volumes: [volumeName])
                throw error
            }
        }
    }

}
