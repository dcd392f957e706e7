import BerthAPI
import BerthAgentChannel
import BerthControlPlane
import BerthModel
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import SigV4
import Synchronization
import Testing

/// The payload channel on a live listener, driven by a WebSocket client as an agent drives it: signed
/// upgrades, ACS frames both ways, heartbeats, and the refusals the ECS agent understands.
@Suite("Agent channel: the WebSocket endpoint")
struct AgentChannelEndpointTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let agentKey = SigV4Signer(accessKeyID: "AKIDAGENT", secretAccessKey: "agent-secret", region: "us-east-1")
    static let otherKey = SigV4Signer(accessKeyID: "AKIDOTHER", secretAccessKey: "other-secret", region: "us-east-1")
    static let verifier = SigV4Verifier(secrets: ["AKIDAGENT": "agent-secret", "AKIDOTHER": "other-secret"])

    /// A control plane with cluster `default` and one instance registered with the agent's key, behind a
    /// live API listener with the payload channel.
    struct Server {
        let plane: ControlPlane
        let instanceArn: String
        let clusterArn: String
        let port: Int
        let client: any TestClientProtocol

        /// The channel's URL for `instanceArn`, as the ECS agent builds it.
        func url(instance: String? = nil, cluster: String = "default") -> String {
            let query = [
                "agentHash=test", "agentVersion=1.0.0", "clusterArn=\(cluster)",
                "containerInstanceArn=\(SigV4Verifier.encodeComponent(instance ?? instanceArn))",
                "dockerVersion=20.10.24",
                "protocolVersion=2", "sendCredentials=false", "seqNum=1",
            ].joined(separator: "&")
            return "ws://127.0.0.1:\(port)/ws?\(query)"
        }

        /// The upgrade's signature headers, for `url` sent with `host`.
        func signature(_ url: String, signer: SigV4Signer, host: String? = nil, at now: Date = Date()) -> HTTPFields {
            let components = URLComponents(string: url)
            let signed = signer.sign(
                method: "GET",
                path: components?.percentEncodedPath ?? "/ws",
                query: components?.percentEncodedQuery ?? "",
                headers: [(name: "host", value: host ?? "127.0.0.1:\(port)")],
                body: Data(),
                now: now
            )
            var fields = HTTPFields()
            for header in signed {
                if let name = HTTPField.Name(header.name) { fields[name] = header.value }
            }
            return fields
        }

        /// Runs `handler` on a channel opened as the agent opens it.
        @discardableResult
        func connect(
            url: String? = nil,
            signer: SigV4Signer = AgentChannelEndpointTests.agentKey,
            _ handler: @escaping WebSocketDataHandler<WebSocketClient.Context>
        ) async throws -> WebSocketCloseFrame? {
            let target = url ?? self.url()
            return try await WebSocketClient.connect(
                url: target,
                configuration: .init(
                    maxFrameSize: ACSMessage.maximumFrameSize,
                    additionalHeaders: signature(target, signer: signer)
                ),
                logger: AgentChannelEndpointTests.logger,
                handler: handler
            )
        }

        /// Returns once the control plane holds a connection of the instance (the server takes it a moment
        /// after the client's handler starts): tasks placed before would find the instance disconnected.
        func waitUntilConnected() async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let described = try await plane.describeInstances([instanceArn], cluster: nil)
                if described.instances.first?.instance.agentConnected == true { return }
                try await Task.sleep(for: .milliseconds(10))
            }
            Issue.record("the control plane did not take the connection within 60 s")
        }

        /// The body of a refused upgrade, read with a plain GET as an agent reads it.
        func refusal(
            url: String,
            signer: SigV4Signer?,
            signedAt: Date = Date()
        ) async throws -> (HTTPResponse.Status, [String: String]) {
            let components = URLComponents(string: url)
            let path = (components?.percentEncodedPath ?? "/ws") + "?" + (components?.percentEncodedQuery ?? "")
            // The test client sends its requests to host `localhost`.
            let headers = signer.map { signature(url, signer: $0, host: "localhost", at: signedAt) } ?? [:]
            return try await client.execute(uri: path, method: .get, headers: headers) { response in
                let json = try? JSONDecoder().decode(
                    [String: String].self,
                    from: Data(String(buffer: response.body).utf8)
                )
                return (response.status, json ?? [:])
            }
        }
    }

    static func withServer(
        timing: AgentChannelEndpoint.Timing = AgentChannelEndpoint.Timing(),
        _ body: @escaping @Sendable (Server) async throws -> Void
    ) async throws {
        let (plane, clusterArn, instanceArn) = try await makeControlPlane()
        let channel = AgentChannelEndpoint(controlPlane: plane, verifier: verifier, timing: timing, logger: logger)
        let app = Application(
            router: ECSAPIRouter.make(
                controlPlane: plane,
                endpoint: "http://127.0.0.1:0",
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
            try await body(
                Server(plane: plane, instanceArn: instanceArn, clusterArn: clusterArn, port: port, client: client)
            )
        }
    }

    /// Cluster `default` with one instance registered with the agent's key, and a task definition `big`.
    static func makeControlPlane() async throws -> (plane: ControlPlane, clusterArn: String, instanceArn: String) {
        let plane = try await ControlPlane(
            store: InMemoryClusterStore(),
            settings: ControlPlane.Settings(region: "us-east-1", account: "123456789012"),
            logger: logger
        )
        let cluster = try await plane.createCluster(name: "default")
        let instance = try await plane.registerInstance(
            InstanceRegistrationRequest(
                cluster: "default",
                totalResources: [.integer("CPU", 2048), .integer("MEMORY", 4096)],
                registeredBy: agentKey.accessKeyID
            )
        )
        _ = try await plane.registerTaskDefinition(
            TaskDefinitionRegistration(
                family: "big",
                containerDefinitions: [
                    {
                        var app = ContainerDefinition(name: "app", image: "busybox")
                        app.memory = 64
                        // Far over the 16 KiB frames WebSocket libraries take by default.
                        app.environment = [KeyValuePair(name: "PADDING", value: String(repeating: "x", count: 40_000))]
                        return app
                    }()
                ]
            )
        )
        return (plane, cluster.cluster.clusterArn, instance.instance.containerInstanceArn)
    }

    static let isPayload: @Sendable (ACSMessage) -> Bool = { $0.typeName == "PayloadMessage" }
    static let isHeartbeat: @Sendable (ACSMessage) -> Bool = { $0.typeName == "HeartbeatMessage" }

    /// Reads frames until one matches; nil when the channel closes first.
    static func next(
        _ iterator: inout WebSocketInboundMessageStream.AsyncIterator,
        where matches: (ACSMessage) -> Bool = { _ in true }
    ) async throws -> ACSMessage? {
        while let message = try await iterator.next() {
            guard case .text(let text) = message, let frame = try ACSMessage.parse(text) else { continue }
            if matches(frame) { return frame }
        }
        return nil
    }

    @Test(
        "a task placed on the instance arrives as a PayloadMessage over 16 KiB; once acknowledged, it is not sent again"
    )
    func payloadAndAck() async throws {
        try await Self.withServer { server in
            let taskArn = Mutex<String?>(nil)
            try await server.connect { inbound, outbound, _ in
                var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                try await server.waitUntilConnected()
                let (tasks, _) = try await server.plane.launch(TaskLaunch(taskDefinition: "big"))
                taskArn.withLock { $0 = tasks.first?.taskArn }
                guard case .payload(let payload)? = try await Self.next(&frames, where: Self.isPayload) else {
                    Issue.record("no payload came")
                    return
                }
                #expect(payload.containerInstanceArn == server.instanceArn)
                #expect(payload.clusterArn == server.clusterArn)
                let message = try payload.payloadMessage()
                #expect(message.tasks.map(\.taskArn) == tasks.map(\.taskArn))
                #expect(message.tasks.first?.containers.first?.environment?.first?.value.count == 40_000)
                try await outbound.writeTextMessage(
                    ACSMessage.ack(
                        ACSAckRequest(
                            cluster: payload.clusterArn,
                            containerInstance: payload.containerInstanceArn,
                            messageId: payload.messageId
                        )
                    ).frame()
                )
                try await outbound.close(.normalClosure, reason: nil)
            }
            #expect(taskArn.withLock { $0 } != nil)
            // Reconnected: what was acknowledged does not come again; the first frame is a heartbeat... or a
            // stop, were there one. Here a new task is placed and it alone comes.
            try await server.connect { inbound, outbound, _ in
                var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                try await server.waitUntilConnected()
                let (tasks, _) = try await server.plane.launch(TaskLaunch(taskDefinition: "big"))
                guard case .payload(let payload)? = try await Self.next(&frames, where: Self.isPayload) else {
                    Issue.record("no payload came")
                    return
                }
                #expect(try payload.payloadMessage().tasks.map(\.taskArn) == tasks.map(\.taskArn))
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
    }

    @Test("a payload not acknowledged comes again on the next connection")
    func unacknowledgedComesAgain() async throws {
        try await Self.withServer { server in
            let first = Mutex<String?>(nil)
            try await server.connect { inbound, outbound, _ in
                var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                try await server.waitUntilConnected()
                _ = try await server.plane.launch(TaskLaunch(taskDefinition: "big"))
                guard case .payload(let payload)? = try await Self.next(&frames, where: Self.isPayload) else { return }
                first.withLock { $0 = payload.tasks.first?.arn }
                try await outbound.close(.normalClosure, reason: nil)
            }
            try await server.connect { inbound, outbound, _ in
                var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                guard case .payload(let payload)? = try await Self.next(&frames, where: Self.isPayload) else {
                    Issue.record("the payload did not come again")
                    return
                }
                #expect(payload.tasks.first?.arn == first.withLock { $0 })
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
    }

    @Test("an idle channel gets heartbeats; one whose heartbeats go unanswered is closed with a CloseMessage")
    func heartbeats() async throws {
        var timing = AgentChannelEndpoint.Timing()
        timing.heartbeatInterval = .milliseconds(100)
        // Answered: heartbeats keep coming on an idle channel, each with its own ID, and the acks are taken.
        // (How late an ack may come, or how long a heartbeat takes to write, is not what is tested here: the
        // bounds are set far away, so that a loaded machine's slow answers and writes cannot close the
        // channel. With the write bound at the 100 ms interval, CI closed it and the ack met a closed channel.)
        timing.missedHeartbeatsBeforeClose = 1000
        timing.heartbeatWriteLimit = .seconds(3600)
        try await Self.withServer(timing: timing) { server in
            try await server.connect { inbound, outbound, _ in
                var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                for _ in 0..<4 {
                    guard case .heartbeat(let heartbeat)? = try await Self.next(&frames, where: Self.isHeartbeat) else {
                        Issue.record("the channel closed while its heartbeats were answered")
                        return
                    }
                    try await outbound.writeTextMessage(
                        ACSMessage.heartbeatAck(ACSHeartbeatAckRequest(messageId: heartbeat.messageId)).frame()
                    )
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
        // Unanswered: after two, the control plane says why and closes.
        timing.missedHeartbeatsBeforeClose = 2
        try await Self.withServer(timing: timing) { server in
            let seen = Mutex<[String]>([])
            try await server.connect { inbound, _, _ in
                var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                while let frame = try await Self.next(&frames) {
                    seen.withLock { $0.append(frame.typeName) }
                }
            }
            let types = seen.withLock { $0 }
            // (The manifest sent on connecting may come before, between or after them, or not at all when
            // the channel closed first.)
            let channelFrames = types.filter { $0 != "TaskManifestMessage" }
            #expect(channelFrames == ["HeartbeatMessage", "HeartbeatMessage", "CloseMessage"], "\(types)")
        }
    }

    @Test("a second connection for the instance replaces the first, which is told and closed")
    func secondConnectionReplacesFirst() async throws {
        try await Self.withServer { server in
            let (opened, openedContinuation) = AsyncStream.makeStream(of: Void.self)
            let firstSawAfterPayload = Recorded()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await server.connect { inbound, _, _ in
                        // A payload that came here shows the control plane holds this connection.
                        var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                        try await server.waitUntilConnected()
                        _ = try await server.plane.launch(TaskLaunch(taskDefinition: "big"))
                        _ = try await Self.next(&frames) { $0.typeName == "PayloadMessage" }
                        openedContinuation.yield()
                        while let frame = try await Self.next(&frames) {
                            firstSawAfterPayload.append(frame.typeName)
                        }
                    }
                }
                var iterator = opened.makeAsyncIterator()
                _ = await iterator.next()
                try await server.connect { inbound, outbound, _ in
                    // The newer connection is the instance's: the payload not acknowledged comes here.
                    var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                    let payload = try await Self.next(&frames) { $0.typeName == "PayloadMessage" }
                    #expect(payload != nil)
                    try await outbound.close(.normalClosure, reason: nil)
                }
                try await group.waitForAll()
            }
            // (The manifest sent on connecting may come after the payload.)
            #expect(firstSawAfterPayload.values.filter { $0 != "TaskManifestMessage" } == ["CloseMessage"])
        }
    }

    @Test("on connecting the agent gets a manifest of its tasks; stop verification confirms only what is not wanted")
    func manifestAndStopVerification() async throws {
        try await Self.withServer { server in
            // Two tasks placed while connected; then one of them is wanted STOPPED.
            let placed = Recorded()
            try await server.connect { _, outbound, _ in
                try await server.waitUntilConnected()
                for _ in 0..<2 {
                    let (tasks, _) = try await server.plane.launch(TaskLaunch(taskDefinition: "big"))
                    tasks.forEach { placed.append($0.taskArn) }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
            let arns = placed.values
            try #require(arns.count == 2)
            let (runningArn, stoppingArn) = (arns[0], arns[1])
            _ = try await server.plane.stopTask(stoppingArn, cluster: "default", reason: "test")
            let unknownArn = "arn:aws:ecs:us-east-1:123456789012:task/default/forgotten"
            try await server.connect { inbound, outbound, _ in
                var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                guard
                    case .taskManifest(let manifest)? = try await Self.next(
                        &frames,
                        where: { $0.typeName == "TaskManifestMessage" }
                    )
                else {
                    Issue.record("no manifest came")
                    return
                }
                #expect(manifest.containerInstanceArn == server.instanceArn)
                let listed = Dictionary(uniqueKeysWithValues: manifest.tasks.map { ($0.taskArn, $0.desiredStatus) })
                #expect(listed == [runningArn: "RUNNING", stoppingArn: "STOPPED"])
                #expect((manifest.timeline ?? 0) > 0)

                let candidates = [runningArn, stoppingArn, unknownArn].map {
                    ACSTaskIdentifier(taskArn: $0, taskClusterArn: server.clusterArn, desiredStatus: "RUNNING")
                }
                // An answer to another manifest than the latest confirms nothing.
                try await outbound.writeTextMessage(
                    ACSMessage.taskStopVerification(
                        ACSTaskStopVerificationMessage(messageId: "stale", stopCandidates: candidates)
                    ).frame()
                )
                guard
                    case .taskStopVerificationAck(let stale)? = try await Self.next(
                        &frames,
                        where: { $0.typeName == "TaskStopVerificationAck" }
                    )
                else {
                    Issue.record("no answer to the stale verification")
                    return
                }
                #expect(stale.messageId == "stale")
                #expect(stale.stopTasks.isEmpty)

                try await outbound.writeTextMessage(
                    ACSMessage.taskStopVerification(
                        ACSTaskStopVerificationMessage(messageId: manifest.messageId, stopCandidates: candidates)
                    ).frame()
                )
                guard
                    case .taskStopVerificationAck(let answer)? = try await Self.next(
                        &frames,
                        where: { $0.typeName == "TaskStopVerificationAck" }
                    )
                else {
                    Issue.record("no answer to the verification")
                    return
                }
                #expect(answer.messageId == manifest.messageId)
                #expect(Set(answer.stopTasks.map(\.taskArn)) == [stoppingArn, unknownArn])
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
    }

    @Test("frames that are not ACS messages get an ErrorMessage; the channel goes on")
    func badFramesFromAnAgent() async throws {
        try await Self.withServer { server in
            try await server.connect { inbound, outbound, _ in
                var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                for garbage in ["not json", #"{"type":"AckRequest","message":{"messageId":7}}"#, "{}", "[]"] {
                    try await outbound.writeTextMessage(garbage)
                    let answer = try await Self.next(&frames) { $0.typeName == "ErrorMessage" }
                    #expect(answer != nil, "no ErrorMessage for \(garbage)")
                }
                try await outbound.writeBinaryMessage(ByteBuffer(bytes: [0, 1, 2]))
                // Still served: a task placed now comes.
                try await server.waitUntilConnected()
                _ = try await server.plane.launch(TaskLaunch(taskDefinition: "big"))
                #expect(try await Self.next(&frames, where: Self.isPayload) != nil)
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
    }

    @Test(
        "a burst of frames far past what the channel queues is answered in full and in order: reading waits, nothing is dropped"
    )
    func burstOfFrames() async throws {
        try await Self.withServer { server in
            try await server.connect { inbound, outbound, _ in
                var frames = inbound.messages(maxSize: ACSMessage.maximumFrameSize).makeAsyncIterator()
                let count = 400
                // Written without waiting for answers: many times the frames a channel holds unread.
                for index in 0..<count {
                    try await outbound.writeTextMessage(
                        ACSMessage.taskStopVerification(
                            ACSTaskStopVerificationMessage(messageId: "burst-\(index)", stopCandidates: [])
                        ).frame()
                    )
                }
                var answered: [String] = []
                while answered.count < count,
                    case .taskStopVerificationAck(let ack)? = try await Self.next(
                        &frames,
                        where: { $0.typeName == "TaskStopVerificationAck" }
                    )
                {
                    answered.append(ack.messageId)
                }
                #expect(answered == (0..<count).map { "burst-\($0)" })
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
    }

    @Test(
        "refused upgrades say why, as the ECS agent reads it: {\"<Exception>\": message} (no signature, unknown key, wrong secret, expired signature, another instance, unknown instance or cluster, deregistered)"
    )
    func refusals() async throws {
        try await Self.withServer { server in
            let unsigned = try await server.refusal(url: server.url(), signer: nil)
            #expect(unsigned.0 == .forbidden)
            #expect(unsigned.1["MissingAuthenticationTokenException"] != nil, "\(unsigned.1)")

            let unknownKey = SigV4Signer(accessKeyID: "AKIDNOBODY", secretAccessKey: "x", region: "us-east-1")
            #expect(
                try await server.refusal(url: server.url(), signer: unknownKey).1["UnrecognizedClientException"]
                    != nil
            )

            // The agent's key with another secret: a wrong signature.
            let wrongSecret = SigV4Signer(
                accessKeyID: Self.agentKey.accessKeyID,
                secretAccessKey: "not-the-agent-secret",
                region: "us-east-1"
            )
            let forged = try await server.refusal(url: server.url(), signer: wrongSecret)
            #expect(forged.0 == .forbidden)
            #expect(forged.1["InvalidSignatureException"] != nil, "\(forged.1)")

            // A signature made 20 minutes ago (a replayed or long-delayed upgrade): expired.
            let replayed = try await server.refusal(
                url: server.url(),
                signer: Self.agentKey,
                signedAt: Date().addingTimeInterval(-20 * 60)
            )
            #expect(replayed.0 == .forbidden)
            #expect(replayed.1["InvalidSignatureException"]?.hasPrefix("Signature expired") == true, "\(replayed.1)")

            let otherInstance = try await server.refusal(url: server.url(), signer: Self.otherKey)
            #expect(otherInstance.0 == .forbidden)
            #expect(otherInstance.1["AccessDeniedException"] != nil, "\(otherInstance.1)")

            let unknownURL = server.url(instance: "arn:aws:ecs:us-east-1:123456789012:container-instance/default/none")
            let unknown = try await server.refusal(url: unknownURL, signer: Self.agentKey)
            #expect(unknown.1["InactiveInstanceException"] != nil, "\(unknown.1)")

            let wrongCluster = try await server.refusal(url: server.url(cluster: "elsewhere"), signer: Self.agentKey)
            #expect(wrongCluster.1["InvalidClusterException"] != nil, "\(wrongCluster.1)")

            // The WebSocket client sees the refusal as a failed upgrade, and no handler runs.
            await #expect(throws: (any Error).self) {
                try await server.connect(signer: Self.otherKey) { _, _, _ in
                    Issue.record("a refused upgrade ran the handler")
                }
            }

            // Deregistered: refused as inactive.
            _ = try await server.plane.deregisterInstance(server.instanceArn, cluster: "default", force: true)
            let inactive = try await server.refusal(url: server.url(), signer: Self.agentKey)
            #expect(inactive.1["InactiveInstanceException"] != nil, "\(inactive.1)")
        }
    }

    @Test("the ECS agent's upgrade verifies: spaces written + in the URL, signed as %20, names sorted")
    func ecsAgentQueryForm() throws {
        // As the ECS agent 1.105 sends it (Go's form encoding), and as its signer signs it.
        let sent = "seqNum=1&agentVersion=1.105.1&dockerVersion=DockerVersion%3A+20.10.24%2Bdfsg1&clusterArn=default"
        let canonicalQuery =
            "agentVersion=1.105.1&clusterArn=default&dockerVersion=DockerVersion%3A%2020.10.24%2Bdfsg1&seqNum=1"
        let amzDate = "20261121T233945Z"
        let canonical = [
            "GET", "/ws", canonicalQuery, "host:cp.example:51680\nx-amz-date:\(amzDate)\n", "host;x-amz-date",
            SigV4Verifier.sha256Hex(Data()),
        ].joined(separator: "\n")
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, "20261121/us-east-1/ecs/aws4_request",
            SigV4Verifier.sha256Hex(Data(canonical.utf8)),
        ].joined(separator: "\n")
        let signature = SigV4Verifier.signature(
            secret: "agent-secret",
            date: "20261121",
            region: "us-east-1",
            service: "ecs",
            stringToSign: stringToSign
        )
        let caller = try Self.verifier.verify(
            method: "GET",
            path: "/ws",
            query: sent,
            headers: [
                (name: "Host", value: "cp.example:51680"), (name: "X-Amz-Date", value: amzDate),
                (
                    name: "Authorization",
                    value:
                        "AWS4-HMAC-SHA256 Credential=AKIDAGENT/20261121/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=\(signature)"
                ),
            ],
            body: Data(),
            now: try #require(ISO8601DateFormatter().date(from: "2026-11-21T23:40:00Z"))
        )
        #expect(caller.accessKeyID == "AKIDAGENT")
    }

    @Test("another key cannot register the instance again: an agent can never act for another instance")
    func reRegistrationByAnotherKey() async throws {
        let (plane, _, instanceArn) = try await Self.makeControlPlane()
        func registration(by key: SigV4Signer) -> InstanceRegistrationRequest {
            InstanceRegistrationRequest(
                cluster: "default",
                containerInstanceArn: instanceArn,
                totalResources: [.integer("CPU", 2048), .integer("MEMORY", 4096)],
                registeredBy: key.accessKeyID
            )
        }
        await #expect {
            _ = try await plane.registerInstance(registration(by: Self.otherKey))
        } throws: { error in
            (error as? ClusterError)?.code == .accessDenied
        }
        let again = try await plane.registerInstance(registration(by: Self.agentKey))
        #expect(again.instance.containerInstanceArn == instanceArn)

        // Registered while the API checked no signatures: the first key to register it again owns it.
        let unsigned = try await plane.registerInstance(
            InstanceRegistrationRequest(cluster: "default", totalResources: [.integer("CPU", 1024)])
        )
        var claim = registration(by: Self.otherKey)
        claim.containerInstanceArn = unsigned.instance.containerInstanceArn
        #expect(try await plane.registerInstance(claim).instance.registeredBy == Self.otherKey.accessKeyID)
        claim.registeredBy = Self.agentKey.accessKeyID
        await #expect(throws: ClusterError.self) { _ = try await plane.registerInstance(claim) }
    }
}

/// Frame types seen by a handler that runs in another task.
final class Recorded: Sendable {
    private let seen = Mutex<[String]>([])

    func append(_ value: String) { seen.withLock { $0.append(value) } }

    var values: [String] { seen.withLock { $0 } }
}
