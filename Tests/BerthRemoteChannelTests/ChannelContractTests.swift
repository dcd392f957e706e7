import BerthAPI
import BerthAgentChannel
import BerthControlPlane
import BerthModel
import BerthRemoteChannel
import BerthTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SigV4
import Synchronization
import Testing

/// The agent channel's contract, run against the in-process channel and against the network channel on a
/// live control plane alike: the engine sees one ``ControlPlaneConnection`` in both modes, so both must
/// register, deliver, acknowledge and fold reports the same way.
@Suite("Agent channel contract: in process and over the network")
struct ChannelContractTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let agentKey = SigV4Signer(accessKeyID: "AKIDAGENT", secretAccessKey: "agent-secret", region: "us-east-1")
    static let otherKey = SigV4Signer(accessKeyID: "AKIDOTHER", secretAccessKey: "other-secret", region: "us-east-1")
    static let verifier = SigV4Verifier(secrets: ["AKIDAGENT": "agent-secret", "AKIDOTHER": "other-secret"])
    /// Every wait on the control plane here ends well within this, even on a loaded machine.
    static let bound: Duration = .seconds(60)

    enum Channel: String, CaseIterable, CustomStringConvertible, Sendable {
        case inProcess = "in process"
        case network = "over the network"
        var description: String { rawValue }
    }

    /// What a test gets: the control plane (cluster `default`, task definition `web`) and a channel to it.
    struct Setup: Sendable {
        let plane: ControlPlane
        let connection: any ControlPlaneConnection
        /// Another channel to the same control plane signed with another key (network only).
        let makeOther: @Sendable () -> RemoteControlPlaneConnection?

        /// Registers an instance and opens its channel; returns once the control plane counts it connected.
        func connectedInstance() async throws -> (instanceArn: String, stream: PayloadStream) {
            let registered = try await connection.register(ChannelContractTests.registration())
            let instanceArn = registered.containerInstanceArn
            let stream = try await connection.connect(instanceArn: instanceArn)
            try await ChannelContractTests.waitUntilConnected(plane, instanceArn)
            return (instanceArn, stream)
        }
    }

    static func withChannel(
        _ kind: Channel,
        timing: RemoteControlPlaneConnection.Timing = RemoteControlPlaneConnection.Timing(),
        _ body: @escaping @Sendable (Setup) async throws -> Void
    ) async throws {
        let plane = try await ControlPlane(
            store: InMemoryClusterStore(),
            settings: ControlPlane.Settings(region: "us-east-1", account: "123456789012"),
            logger: logger
        )
        _ = try await plane.createCluster(name: "default")
        var web = ContainerDefinition(name: "app", image: "busybox")
        web.memory = 64
        _ = try await plane.registerTaskDefinition(
            TaskDefinitionRegistration(family: "web", containerDefinitions: [web])
        )
        switch kind {
        case .inProcess:
            try await body(Setup(plane: plane, connection: InProcessAgentChannel(handler: plane), makeOther: { nil }))
        case .network:
            let channel = AgentChannelEndpoint(controlPlane: plane, verifier: verifier, logger: logger)
            let app = Application(
                router: ECSAPIRouter.make(
                    controlPlane: plane,
                    endpoint: "http://0.0.0.0:0",
                    verifier: verifier,
                    channel: channel
                ),
                server: channel.serverBuilder(),
                configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
                services: [channel.keeper],
                logger: logger
            )
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let baseURL = try #require(URL(string: "http://127.0.0.1:\(port)"))
                @Sendable func connection(_ key: SigV4Signer) -> (RemoteControlPlaneConnection, SignedECSClient) {
                    let api = SignedECSClient(baseURL: baseURL, signer: key, tls: nil, logger: logger)
                    let connection = RemoteControlPlaneConnection(
                        api: api,
                        tls: nil,
                        identity: .init(agentVersion: "1.0.0", agentHash: "test", dockerVersion: "20.10.24"),
                        timing: timing,
                        logger: logger
                    )
                    return (connection, api)
                }
                let (agent, api) = connection(agentKey)
                let others = ClientsToClose()
                let result: Result<Void, any Error>
                do {
                    try await body(
                        Setup(
                            plane: plane,
                            connection: agent,
                            makeOther: {
                                let (other, otherAPI) = connection(otherKey)
                                others.add(otherAPI)
                                return other
                            }
                        )
                    )
                    result = .success(())
                } catch {
                    result = .failure(error)
                }
                try await api.shutdown()
                try await others.shutdown()
                try result.get()
            }
        }
    }

    static func registration() -> InstanceRegistration {
        InstanceRegistration(
            cluster: "default",
            totalResources: [.integer("CPU", 1024), .integer("MEMORY", 2048)],
            attributes: [],
            versionInfo: VersionInfo(agentVersion: "1.0.0", agentHash: "test", dockerVersion: "20.10.24")
        )
    }

    /// Returns once the control plane counts the instance's agent connected (the server takes a network
    /// connection a moment after the client sees it open): a task placed before would find it away.
    static func waitUntilConnected(_ plane: ControlPlane, _ instanceArn: String) async throws {
        try await waitUntil("the control plane took the connection") {
            try await plane.describeInstances([instanceArn], cluster: nil).instances.first?.instance.agentConnected
                == true
        }
    }

    @Test(
        "register, get a placed task as a payload, acknowledge it, report in order: repeats and overtaken reports change nothing",
        arguments: Channel.allCases
    )
    func contract(_ kind: Channel) async throws {
        try await Self.withChannel(kind) { setup in
            let registered = try await setup.connection.register(Self.registration())
            #expect(registered.clusterArn == "arn:aws:ecs:us-east-1:123456789012:cluster/default")
            #expect(registered.containerInstanceArn.contains(":container-instance/default/"))
            let instanceArn = registered.containerInstanceArn

            let stream = try await setup.connection.connect(instanceArn: instanceArn)
            var payloads = stream.makeAsyncIterator()
            try await Self.waitUntilConnected(setup.plane, instanceArn)
            let (tasks, failures) = try await setup.plane.launch(TaskLaunch(taskDefinition: "web"))
            #expect(failures.isEmpty)
            let taskArn = try #require(tasks.first?.taskArn)
            let message = try #require(try await Self.nextPayload(&payloads))
            #expect(message.tasks.map(\.taskArn) == [taskArn])
            #expect(message.tasks.first?.containers.map(\.name) == ["app"])
            try await setup.connection.acknowledge(messageID: message.messageID, instanceArn: instanceArn)
            try await waitUntil("the control plane took the acknowledgement") {
                let task = try await setup.plane.describeTasks([taskArn], cluster: "default").tasks.first
                return task?.acknowledgedDesiredStatus == .running
            }

            let at = Timestamp(secondsSinceEpoch: 1_800_000_000)
            try await setup.connection.submit(
                TaskStateChange(
                    taskArn: taskArn,
                    sequence: 1,
                    status: .running,
                    at: at,
                    containers: [
                        ContainerStateChange(
                            containerName: "app",
                            runtimeId: "c0ffee",
                            status: .running,
                            networkBindings: [
                                NetworkBinding(bindIP: "0.0.0.0", containerPort: 80, hostPort: 32768, protocol: .tcp)
                            ],
                            healthStatus: .healthy
                        )
                    ]
                ),
                instanceArn: instanceArn
            )
            let stopped = TaskStateChange(
                taskArn: taskArn,
                sequence: 3,
                status: .stopped,
                reason: "Essential container in task exited",
                stopCode: .essentialContainerExited,
                at: Timestamp(secondsSinceEpoch: 1_800_000_010),
                executionStoppedAt: Timestamp(secondsSinceEpoch: 1_800_000_009),
                containers: [ContainerStateChange(containerName: "app", status: .stopped, exitCode: 1)]
            )
            try await setup.connection.submit(stopped, instanceArn: instanceArn)
            // Sent again after a lost answer, and one overtaken by the STOPPED: neither changes the task.
            try await setup.connection.submit(stopped, instanceArn: instanceArn)
            try await setup.connection.submit(
                TaskStateChange(
                    taskArn: taskArn,
                    sequence: 2,
                    status: .running,
                    at: at,
                    containers: [ContainerStateChange(containerName: "app", status: .running, exitCode: 99)]
                ),
                instanceArn: instanceArn
            )
            try await setup.connection.heartbeat(instanceArn: instanceArn)
            // A task the control plane does not know (expired, or never placed): taken, and nothing recorded.
            try await setup.connection.submit(
                TaskStateChange(
                    taskArn: "arn:aws:ecs:us-east-1:123456789012:task/default/ffffffffffffffffffffffffffffffff",
                    sequence: 1,
                    status: .stopped,
                    at: at
                ),
                instanceArn: instanceArn
            )

            let task = try #require(try await setup.plane.describeTasks([taskArn], cluster: "default").tasks.first)
            #expect(task.lastStatus == "STOPPED")
            #expect(task.stopCode == .essentialContainerExited)
            #expect(task.stoppedReason == "Essential container in task exited")
            #expect(task.startedAt == at)
            #expect(task.executionStoppedAt == Timestamp(secondsSinceEpoch: 1_800_000_009))
            let container = try #require(task.containers.first)
            #expect(container.exitCode == 1)
            #expect(container.runtimeId == "c0ffee")
            #expect(container.healthStatus == .healthy)
            #expect(container.networkBindings.first?.hostPort == 32768)
        }
    }

    @Test(
        "a newer connection replaces the older: the older's stream ends without an error, the newer gets what comes next",
        arguments: Channel.allCases
    )
    func replaced(_ kind: Channel) async throws {
        try await Self.withChannel(kind) { setup in
            let (instanceArn, older) = try await setup.connectedInstance()
            let newer = try await setup.connection.connect(instanceArn: instanceArn)
            guard case .finished = try await Self.end(of: older) else {
                Issue.record("the replaced connection's stream did not finish cleanly")
                return
            }
            try await Self.waitUntilConnected(setup.plane, instanceArn)
            let (tasks, _) = try await setup.plane.launch(TaskLaunch(taskDefinition: "web"))
            var payloads = newer.makeAsyncIterator()
            #expect(try await Self.nextPayload(&payloads)?.tasks.map(\.taskArn) == tasks.map(\.taskArn))
        }
    }

    @Test(
        "a stop verification is answered on the stream: of the candidates, only what the control plane does not place there",
        arguments: Channel.allCases
    )
    func stopVerification(_ kind: Channel) async throws {
        try await Self.withChannel(kind) { setup in
            let (instanceArn, stream) = try await setup.connectedInstance()
            var messages = stream.makeAsyncIterator()
            let (tasks, _) = try await setup.plane.launch(TaskLaunch(taskDefinition: "web"))
            let placed = try #require(tasks.first?.taskArn)
            // Over the network a manifest comes on connecting, before or after the payload: the answer is only
            // for its ID. In process none comes.
            var manifestID = "in-process"
            var sawPayload = false
            while let message = try await messages.next() {
                if case .taskManifest(let manifest) = message { manifestID = manifest.messageID }
                if message.payload != nil { sawPayload = true }
                if sawPayload && (kind == .inProcess || manifestID != "in-process") { break }
            }
            if kind == .network { #expect(manifestID != "in-process", "no manifest came on connecting") }
            let unknown = "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef"
            try await setup.connection.verifyStops(
                manifestID: manifestID,
                candidates: [unknown, placed],
                instanceArn: instanceArn
            )
            while let message = try await messages.next() {
                guard case .stopsConfirmed(let id, let arns) = message else { continue }
                #expect(id == manifestID)
                #expect(arns == [unknown])
                return
            }
            Issue.record("no answer came")
        }
    }

    @Test("registering into a cluster that does not exist is refused as clusterNotFound", arguments: Channel.allCases)
    func unknownCluster(_ kind: Channel) async throws {
        try await Self.withChannel(kind) { setup in
            var registration = Self.registration()
            registration.cluster = "nowhere"
            do {
                _ = try await setup.connection.register(registration)
                Issue.record("registered into a cluster that does not exist")
            } catch let error as ControlPlaneError {
                #expect(error.code == .clusterNotFound, "\(error)")
            }
        }
    }

    @Test("over the network, the default cluster is created when the control plane lacks it, as the ECS agent does")
    func defaultClusterCreated() async throws {
        try await Self.withChannel(.network) { setup in
            _ = try await setup.plane.deleteCluster("default")
            let registered = try await setup.connection.register(Self.registration())
            #expect(registered.clusterArn == "arn:aws:ecs:us-east-1:123456789012:cluster/default")
            let described = try await setup.plane.describeInstances(
                [registered.containerInstanceArn],
                cluster: "default"
            )
            #expect(described.instances.count == 1)
        }
    }

    @Test("another key can neither open the instance's channel nor report for its tasks")
    func otherKey() async throws {
        try await Self.withChannel(.network) { setup in
            let (instanceArn, stream) = try await setup.connectedInstance()
            var payloads = stream.makeAsyncIterator()
            let (tasks, _) = try await setup.plane.launch(TaskLaunch(taskDefinition: "web"))
            let taskArn = try #require(tasks.first?.taskArn)
            _ = try await Self.nextPayload(&payloads)

            let other = try #require(setup.makeOther())
            do {
                try await other.submit(
                    TaskStateChange(
                        taskArn: taskArn,
                        sequence: 1,
                        status: .stopped,
                        at: Timestamp(secondsSinceEpoch: 0)
                    ),
                    instanceArn: instanceArn
                )
                Issue.record("another key reported for the instance's task")
            } catch let error as ControlPlaneError {
                #expect(error.code == .accessDenied, "\(error)")
            }
            do {
                _ = try await other.connect(instanceArn: instanceArn)
                Issue.record("another key opened the instance's channel")
            } catch let error as ControlPlaneError {
                #expect(error.code == .accessDenied, "\(error)")
                #expect(error.message.contains("AccessDeniedException"), "\(error)")
            }
            let task = try #require(try await setup.plane.describeTasks([taskArn], cluster: "default").tasks.first)
            #expect(task.lastStatus != "STOPPED")
        }
    }

    @Test(
        "deregistering the instance closes its open channel; opening it again is refused as InactiveInstanceException",
        arguments: Channel.allCases
    )
    func deregistered(_ kind: Channel) async throws {
        try await Self.withChannel(kind) { setup in
            let (instanceArn, stream) = try await setup.connectedInstance()
            _ = try await setup.plane.deregisterInstance(instanceArn, cluster: "default", force: true)
            guard case .finished = try await Self.end(of: stream) else {
                Issue.record("the deregistered instance's channel did not close cleanly")
                return
            }
            do {
                _ = try await setup.connection.connect(instanceArn: instanceArn)
                Issue.record("a deregistered instance's channel was opened")
            } catch let error as ControlPlaneError {
                #expect(error.code == .instanceInactive, "\(error)")
                if kind == .network {
                    #expect(error.message.contains("InactiveInstanceException"), "\(error)")
                }
            }
        }
    }

    @Test("a channel with no frame for longer than the silence limit is closed by the agent: its stream ends")
    func silentChannel() async throws {
        var timing = RemoteControlPlaneConnection.Timing()
        // The control plane heartbeats an idle channel every 20 s; the agent here gives up after 300 ms.
        timing.silenceBeforeClose = .milliseconds(300)
        timing.silenceJitter = .zero
        try await Self.withChannel(.network, timing: timing) { setup in
            let registered = try await setup.connection.register(Self.registration())
            let stream = try await setup.connection.connect(instanceArn: registered.containerInstanceArn)
            guard case .failed(let error) = try await Self.end(of: stream) else {
                Issue.record("the silent channel's stream did not end with an error")
                return
            }
            #expect(error.code == .unavailable)
            #expect(error.message.contains("silent"), "\(error)")
            // And it opens again.
            _ = try await setup.connection.connect(instanceArn: registered.containerInstanceArn)
        }
    }

    /// The next payload, past manifests and answers (the network channel opens with a manifest).
    static func nextPayload(_ iterator: inout PayloadStream.AsyncIterator) async throws -> PayloadMessage? {
        while let message = try await iterator.next() {
            if let payload = message.payload { return payload }
        }
        return nil
    }

    enum StreamEnd: Sendable {
        case finished
        case failed(ControlPlaneError)
        case stillOpen
    }

    /// How `stream` ends, read to its end within the bound.
    static func end(of stream: PayloadStream) async throws -> StreamEnd {
        try await withThrowingTaskGroup(of: StreamEnd.self) { group in
            group.addTask {
                do {
                    for try await _ in stream {}
                    return .finished
                } catch let error as ControlPlaneError {
                    return .failed(error)
                }
            }
            group.addTask {
                try await Task.sleep(for: bound)
                return .stillOpen
            }
            let first = try await group.next() ?? .stillOpen
            group.cancelAll()
            return first
        }
    }
}

/// The extra API clients a test made, shut down with the server.
final class ClientsToClose: Sendable {
    private let clients = Mutex<[SignedECSClient]>([])
    func add(_ client: SignedECSClient) { clients.withLock { $0.append(client) } }
    func shutdown() async throws {
        for client in clients.withLock({ $0 }) { try await client.shutdown() }
    }
}
