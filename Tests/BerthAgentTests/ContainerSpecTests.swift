import BerthAgent
import BerthModel
import DockerEngine
import Testing

@Suite("Container definition to Docker create request")
struct ContainerSpecTests {
    static func record(
        environment: [KeyValuePair]? = nil,
        _ adjust: (inout ContainerDefinition) -> Void = { _ in }
    ) -> TaskRecord {
        var definition = ContainerDefinition(name: "app", image: "busybox")
        definition.environment = environment
        adjust(&definition)
        var record = TaskRecord(
            payload: TaskStateMachineTests.payload([definition]),
            receivedAt: Timestamp(secondsSinceEpoch: 0)
        )
        record.containers[0].dockerName = "ecs-web-3-app-5eed"
        record.containers[0].metadataID = "0123456789abcdef0123456789abcdef01234567"
        return record
    }

    static func environment(
        _ record: TaskRecord,
        endpoint: String?,
        reachableFromBridge: Bool = true
    ) throws -> [String] {
        let context = ContainerSpec.Context(
            cluster: "default",
            region: "us-east-1",
            metadataEndpoint: endpoint.map { .init(url: $0, reachableFromBridge: reachableFromBridge) }
        )
        return try ContainerSpec.createRequest(for: "app", of: record, context: context).configuration.env ?? []
    }

    @Test("the definition's Docker-only options reach Config and HostConfig; disableNetworking is NetworkDisabled")
    func dockerOptions() throws {
        let record = Self.record {
            $0.disableNetworking = true
            $0.user = "nobody"
            $0.pseudoTerminal = true
            $0.readonlyRootFilesystem = true
            $0.ulimits = [Ulimit(name: "nofile", softLimit: 1024, hardLimit: 2048)]
            $0.healthCheck = HealthCheck(command: ["CMD-SHELL", "true"], interval: 7)
        }
        let request = try ContainerSpec.createRequest(
            for: "app",
            of: record,
            context: ContainerSpec.Context(cluster: "default", region: "us-east-1")
        )
        #expect(request.configuration.networkDisabled == true)
        #expect(request.configuration.user == "nobody")
        #expect(request.configuration.tty == true)
        #expect(request.configuration.healthcheck?.interval == .seconds(7))
        #expect(request.hostConfiguration.readonlyRootfs == true)
        #expect(request.hostConfiguration.ulimits == [DockerEngine.Ulimit(name: "nofile", soft: 1024, hard: 2048)])
        let unset = try ContainerSpec.createRequest(
            for: "app",
            of: Self.record(),
            context: ContainerSpec.Context(cluster: "default", region: "us-east-1")
        )
        #expect(unset.configuration.networkDisabled == nil)
    }

    @Test("each container is told its own task metadata URLs, v4 and v3, under the endpoint the agent serves")
    func metadataURL() throws {
        let environment = try Self.environment(Self.record(), endpoint: "http://172.17.0.1:51679")
        #expect(
            environment.contains(
                "ECS_CONTAINER_METADATA_URI_V4=http://172.17.0.1:51679/v4/0123456789abcdef0123456789abcdef01234567"
            )
        )
        #expect(
            environment.contains(
                "ECS_CONTAINER_METADATA_URI=http://172.17.0.1:51679/v3/0123456789abcdef0123456789abcdef01234567"
            )
        )
        #expect(environment.contains("AWS_REGION=us-east-1"))
    }

    @Test("no URL when no endpoint is served; the task's own value is left alone")
    func noMetadataURL() throws {
        #expect(
            !(try Self.environment(Self.record(), endpoint: nil)).contains { $0.hasPrefix("ECS_CONTAINER_METADATA") }
        )
        let own = Self.record(environment: [KeyValuePair(name: "ECS_CONTAINER_METADATA_URI_V4", value: "mine")])
        let environment = try Self.environment(own, endpoint: "http://172.17.0.1:51679")
        #expect(
            environment.filter { $0.hasPrefix("ECS_CONTAINER_METADATA_URI_V4=") } == [
                "ECS_CONTAINER_METADATA_URI_V4=mine"
            ]
        )
        #expect(environment.contains { $0.hasPrefix("ECS_CONTAINER_METADATA_URI=http://172.17.0.1:51679/v3/") })
    }

    @Test("served on loopback because the bridge address is unknown: bridge tasks get no URL, host tasks do")
    func loopbackOnlyForHostTasks() throws {
        let bridge = try Self.environment(Self.record(), endpoint: "http://127.0.0.1:51679", reachableFromBridge: false)
        #expect(!bridge.contains { $0.hasPrefix("ECS_CONTAINER_METADATA") })
        var host = Self.record()
        host.payload.networkMode = .host
        let environment = try Self.environment(host, endpoint: "http://127.0.0.1:51679", reachableFromBridge: false)
        #expect(environment.contains { $0.hasPrefix("ECS_CONTAINER_METADATA_URI_V4=http://127.0.0.1:51679/v4/") })
    }

    @Test("an exit is held for Docker's oom event only when it was by SIGKILL, unasked, with no reason yet")
    func exitsHeldForOutOfMemoryEvent() {
        func exited(_ code: Int?, _ reason: String? = nil) -> ContainerObservation {
            .exited(dockerID: "c1", exitCode: code, reason: reason, finishedAt: nil)
        }
        #expect(ContainerSpec.awaitsOutOfMemoryEvent(exited(137), desiredStatus: .running))
        // The agent stopped it: a SIGKILL after the grace period is its own doing.
        #expect(!ContainerSpec.awaitsOutOfMemoryEvent(exited(137), desiredStatus: .stopped))
        // Docker already says out of memory.
        #expect(
            !ContainerSpec.awaitsOutOfMemoryEvent(
                exited(137, ContainerSpec.outOfMemoryReason),
                desiredStatus: .running
            )
        )
        for code in [0, 1, 7, 143, nil] as [Int?] {
            #expect(!ContainerSpec.awaitsOutOfMemoryEvent(exited(code), desiredStatus: .running))
        }
        #expect(!ContainerSpec.awaitsOutOfMemoryEvent(.created(dockerID: "c1"), desiredStatus: .running))
        #expect(!ContainerSpec.awaitsOutOfMemoryEvent(.outOfMemory, desiredStatus: .running))
        #expect(!ContainerSpec.awaitsOutOfMemoryEvent(.missing, desiredStatus: .running))
    }
}
