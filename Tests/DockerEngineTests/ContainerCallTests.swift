import BerthTestSupport
import DockerEngine
import Foundation
import Testing

@Suite("Container calls")
struct ContainerCallTests {
    @Test("create sends the full configuration in Docker's shape")
    func createBody() async throws {
        let dockerd = StubbedDocker { _ in .json(201, #"{"Id":"c0ffee","Warnings":["low memory"]}"#) }
        try await dockerd.run { client, server in
            var configuration = ContainerConfiguration(image: "127.0.0.1:51670/berth/busybox:latest")
            configuration.cmd = ["httpd", "-f", "-p", "80"]
            configuration.entrypoint = ["/bin/sh", "-c"]
            configuration.env = ["A=1", "B=two words"]
            configuration.workingDir = "/www"
            configuration.user = "nobody"
            configuration.hostname = "web"
            configuration.labels = ["com.amazonaws.ecs.task-arn": "arn:aws:ecs:us-east-1:123456789012:task/default/1"]
            configuration.exposedPorts = [ContainerPort(80), ContainerPort(53, "udp")]
            configuration.healthcheck = HealthCheck(
                test: ["CMD-SHELL", "true"],
                interval: .seconds(5),
                timeout: .milliseconds(1500),
                retries: 3
            )
            configuration.stopSignal = "SIGQUIT"
            configuration.stopTimeout = 7
            var host = HostConfiguration()
            host.binds = ["/srv/www:/www:ro"]
            host.links = ["ecs-db-1-db-abc:db"]
            host.volumesFrom = ["ecs-data-1-data-abc:ro"]
            host.portBindings = [
                ContainerPort(80): [PortBinding(hostPort: "")],
                ContainerPort(53, "udp"): [PortBinding(hostPort: "5353")],
            ]
            host.memory = 128 * 1_048_576
            host.memoryReservation = 64 * 1_048_576
            host.cpuShares = 256
            host.privileged = false
            host.readonlyRootfs = true
            host.ulimits = [Ulimit(name: "nofile", soft: 1024, hard: 4096)]
            host.logConfig = LogConfiguration(type: "json-file", config: ["max-size": "10m"])
            host.extraHosts = ["db.local:10.0.0.5"]
            host.dns = ["10.0.0.2"]
            host.restartPolicy = RestartPolicy(name: "no")

            let created = try await client.createContainer(
                name: "ecs-web-1-app-0a1b",
                ContainerCreateRequest(configuration: configuration, hostConfiguration: host)
            )
            #expect(created.id == "c0ffee")
            #expect(created.warnings == ["low memory"])

            let request = try #require(server.apiRequests.first)
            #expect(request.method == "POST")
            #expect(request.path == "/v1.41/containers/create")
            #expect(request.query["name"] == "ecs-web-1-app-0a1b")
            #expect(request.header("Content-Type") == "application/json")
            let body = try jsonObject(request.body)
            #expect(body["Image"] as? String == "127.0.0.1:51670/berth/busybox:latest")
            #expect(body["Cmd"] as? [String] == ["httpd", "-f", "-p", "80"])
            #expect(body["Entrypoint"] as? [String] == ["/bin/sh", "-c"])
            #expect(body["Env"] as? [String] == ["A=1", "B=two words"])
            #expect(body["WorkingDir"] as? String == "/www")
            #expect(body["User"] as? String == "nobody")
            #expect(body["Hostname"] as? String == "web")
            // Label keys are sent exactly as given.
            #expect((body["Labels"] as? [String: String])?.keys.sorted() == ["com.amazonaws.ecs.task-arn"])
            #expect((body["ExposedPorts"] as? [String: Any])?.keys.sorted() == ["53/udp", "80/tcp"])
            let health = try #require(body["Healthcheck"] as? [String: Any])
            #expect(health["Test"] as? [String] == ["CMD-SHELL", "true"])
            #expect(health["Interval"] as? Int == 5_000_000_000)
            #expect(health["Timeout"] as? Int == 1_500_000_000)
            #expect(health["Retries"] as? Int == 3)
            #expect(body["StopSignal"] as? String == "SIGQUIT")
            #expect(body["StopTimeout"] as? Int == 7)
            #expect(body["Tty"] == nil, "unset members are not sent")

            let hostBody = try #require(body["HostConfig"] as? [String: Any])
            #expect(hostBody["Binds"] as? [String] == ["/srv/www:/www:ro"])
            #expect(hostBody["Links"] as? [String] == ["ecs-db-1-db-abc:db"])
            #expect(hostBody["VolumesFrom"] as? [String] == ["ecs-data-1-data-abc:ro"])
            let bindings = try #require(hostBody["PortBindings"] as? [String: [[String: String]]])
            #expect(bindings["80/tcp"] == [["HostPort": ""]])
            #expect(bindings["53/udp"] == [["HostPort": "5353"]])
            #expect(hostBody["Memory"] as? Int == 134_217_728)
            #expect(hostBody["MemoryReservation"] as? Int == 67_108_864)
            #expect(hostBody["CpuShares"] as? Int == 256)
            #expect(hostBody["Privileged"] as? Bool == false)
            #expect(hostBody["ReadonlyRootfs"] as? Bool == true)
            #expect((hostBody["Ulimits"] as? [[String: Any]])?.first?["Name"] as? String == "nofile")
            #expect((hostBody["LogConfig"] as? [String: Any])?["Type"] as? String == "json-file")
            #expect(((hostBody["LogConfig"] as? [String: Any])?["Config"] as? [String: String]) == ["max-size": "10m"])
            #expect(hostBody["ExtraHosts"] as? [String] == ["db.local:10.0.0.5"])
            #expect(hostBody["Dns"] as? [String] == ["10.0.0.2"])
            #expect((hostBody["RestartPolicy"] as? [String: Any])?["Name"] as? String == "no")
        }
    }

    @Test("start and stop report whether they changed anything (304 means already so)")
    func startStopNotModified() async throws {
        let dockerd = StubbedDocker { request in
            request.path.hasSuffix("/c1/start") || request.path.hasSuffix("/c1/stop") ? .empty(204) : .empty(304)
        }
        try await dockerd.run { client, server in
            let startedNow = try await client.startContainer("c1")
            let startedAgain = try await client.startContainer("c2")
            let stoppedNow = try await client.stopContainer("c1", gracePeriod: .milliseconds(2500))
            let stoppedAgain = try await client.stopContainer("c2", gracePeriod: .seconds(30))
            #expect(startedNow && !startedAgain)
            #expect(stoppedNow && !stoppedAgain)
            let stops = server.apiRequests.filter { $0.path.hasSuffix("/stop") }
            // The grace period is whole seconds, rounded up so a container never gets less than asked.
            #expect(stops.map { $0.query["t"] } == ["3", "30"])
        }
    }

    @Test("kill, remove and list send their parameters")
    func parameters() async throws {
        let dockerd = StubbedDocker { request in
            request.method == "GET"
                ? .json(200, #"[{"Id":"c1","Names":["/web"],"State":"running","Labels":{"a":"b"}}]"#) : .empty(204)
        }
        try await dockerd.run { client, server in
            try await client.killContainer("c1", signal: "SIGUSR1")
            try await client.removeContainer("c1")
            try await client.removeContainer("c2", removeVolumes: false, force: true)
            let listed = try await client.listContainers(filters: ["label": ["com.amazonaws.ecs.cluster=prod"]])
            #expect(listed.map(\.id) == ["c1"])
            #expect(listed.first?.labels == ["a": "b"])

            let requests = server.apiRequests
            #expect(requests[0].path == "/v1.41/containers/c1/kill")
            #expect(requests[0].query["signal"] == "SIGUSR1")
            #expect(requests[1].method == "DELETE")
            #expect(requests[1].query == ["v": "1", "force": "0"])
            #expect(requests[2].query == ["v": "0", "force": "1"])
            #expect(requests[3].query["all"] == "1")
            #expect(requests[3].query["filters"] == #"{"label":["com.amazonaws.ecs.cluster=prod"]}"#)
        }
    }

    @Test("inspect reads the state, ports and mounts dockerd reports")
    func inspectDecoding() async throws {
        let dockerd = StubbedDocker { _ in .json(200, Fixtures.containerInspect) }
        try await dockerd.run { client, _ in
            let inspect = try await client.inspectContainer("web")
            #expect(inspect.plainName == "web")
            #expect(inspect.state.status == "exited")
            #expect(inspect.state.hasExited)
            #expect(inspect.state.exitCode == 137)
            #expect(inspect.state.oomKilled)
            #expect(inspect.state.health?.status == "unhealthy")
            #expect(inspect.state.health?.log.first?.output == "boom\n")
            let ports = try #require(inspect.networkSettings?.ports)
            #expect(ports[ContainerPort(80)]?.compactMap(\.hostPortNumber) == [32768, 32768])
            #expect(ports[ContainerPort(53, "udp")] == [], "an exposed but unpublished port has no bindings")
            #expect(inspect.networkSettings?.ipAddress == "172.17.0.2")
            #expect(inspect.mounts.map(\.destination) == ["/www"])
            #expect(inspect.mounts.first?.readWrite == false)
            #expect(inspect.configuration?.exposedPorts == [ContainerPort(80), ContainerPort(53, "udp")])
            #expect(inspect.configuration?.healthcheck?.interval == .seconds(5))
            #expect(inspect.hostConfiguration?.portBindings?[ContainerPort(80)]?.first?.hostPort == "0")
            #expect(inspect.hostConfiguration?.memory == 134_217_728)
        }
    }
}

enum Fixtures {
    /// Trimmed from a real dockerd 20.10 answer.
    static let containerInspect = #"""
        {"Id":"6f1c","Created":"2026-11-22T01:50:36.123456789Z","Path":"httpd","Args":["-f"],
         "State":{"Status":"exited","Running":false,"Paused":false,"Restarting":false,"OOMKilled":true,"Dead":false,
                  "Pid":0,"ExitCode":137,"Error":"","StartedAt":"2026-11-22T01:50:37.1Z","FinishedAt":"2026-11-22T01:51:00Z",
                  "Health":{"Status":"unhealthy","FailingStreak":3,
                            "Log":[{"Start":"2026-11-22T01:50:40Z","End":"2026-11-22T01:50:40.5Z","ExitCode":1,"Output":"boom\n"}]}},
         "Image":"sha256:f39b","Name":"/web","RestartCount":0,
         "HostConfig":{"Binds":["/tmp/www:/www:ro"],"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"0"}]},
                       "Memory":134217728,"CpuShares":256,"Links":null,"VolumesFrom":null,"Ulimits":null},
         "Mounts":[{"Type":"bind","Source":"/tmp/www","Destination":"/www","Mode":"ro","RW":false,"Propagation":"rprivate"}],
         "Config":{"Hostname":"6f1c","Env":["PATH=/bin"],"Cmd":["httpd","-f"],"Image":"berth-test/busybox",
                   "ExposedPorts":{"80/tcp":{},"53/udp":{}},"Labels":{},
                   "Healthcheck":{"Test":["CMD","true"],"Interval":5000000000}},
         "NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"32768"},{"HostIp":"::","HostPort":"32768"}],
                                     "53/udp":null},
                            "IPAddress":"172.17.0.2",
                            "Networks":{"bridge":{"NetworkID":"n1","IPAddress":"172.17.0.2","Gateway":"172.17.0.1"}}}}
        """#
}
