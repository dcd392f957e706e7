import AsyncHTTPClient
public import BerthAgentChannel
public import BerthModel
import Foundation
import HTTPTypes
import HummingbirdWSClient
public import Logging
import NIOCore
import NIOHTTP1
public import NIOSSL
import NIOWebSocket
import SigV4
import Synchronization

/// The agent channel to a `berth control-plane` over the network, as the ECS agent speaks to ECS:
/// registration and state changes through the signed ECS API, payloads over the ACS WebSocket at the
/// endpoint DiscoverPollEndpoint names. The engine sees the same ``ControlPlaneConnection`` as in process.
public final class RemoteControlPlaneConnection: ControlPlaneConnection {
    /// The channel's clocks (the ECS agent's; shorter in tests).
    public struct Timing: Sendable {
        /// A channel with no frame at all for this long (plus up to `silenceJitter`) is closed: the control
        /// plane heartbeats an idle channel every 20 s, so silence means the path is dead.
        public var silenceBeforeClose: Duration = .seconds(60)
        public var silenceJitter: Duration = .seconds(60)
        /// Every channel is closed cleanly after this long (plus up to `lifetimeJitter`) and opened again,
        /// so agents spread over a control plane's replicas as they come and go.
        public var connectionLifetime: Duration = .seconds(30 * 60)
        public var lifetimeJitter: Duration = .seconds(5 * 60)
        /// DiscoverPollEndpoint's answer is used this long before asking again (the ECS agent's 12 h).
        public var pollEndpointLifetime: Duration = .seconds(12 * 3600)

        public init() {}
    }

    /// What the agent says of itself in the channel's query.
    public struct AgentIdentity: Sendable {
        public var agentVersion: String
        public var agentHash: String?
        public var dockerVersion: String?

        public init(agentVersion: String, agentHash: String? = nil, dockerVersion: String? = nil) {
            self.agentVersion = agentVersion
            self.agentHash = agentHash
            self.dockerVersion = dockerVersion
        }
    }

    let api: SignedECSClient
    let tls: TLSConfiguration?
    /// Whether `tls` trusts a private CA of the operator's (BERTH_BACKEND_CA_FILE) rather than the system's
    /// store: only then may a channel to an IP address go without a name check (see ``channelTLS(for:)``).
    let trustsPrivateCA: Bool
    let identity: AgentIdentity
    let timing: Timing
    let logger: Logger
    private let state: Mutex<State>

    private struct State {
        /// The cluster each registered instance belongs to, from its registration.
        var clusterArns: [String: String] = [:]
        /// The open channel: where acknowledgements are written.
        var channel: OpenChannel?
        var nextChannelID = 0
        var pollEndpoint: PollEndpointCache
    }

    private struct OpenChannel {
        var id: Int
        var instanceArn: String
        var clusterArn: String?
        var outbound: WebSocketOutboundWriter
    }

    public init(
        api: SignedECSClient,
        tls: TLSConfiguration?,
        trustsPrivateCA: Bool = false,
        identity: AgentIdentity,
        timing: Timing = Timing(),
        logger: Logger
    ) {
        self.api = api
        self.tls = tls
        self.trustsPrivateCA = trustsPrivateCA
        self.identity = identity
        self.timing = timing
        self.logger = logger
        state = Mutex(State(pollEndpoint: PollEndpointCache(lifetime: timing.pollEndpointLifetime)))
    }

    // MARK: The signed API

    public func register(_ registration: InstanceRegistration) async throws(ControlPlaneError) -> RegisteredInstance {
        struct Answer: Decodable {
            struct Instance: Decodable { var containerInstanceArn: String }
            var containerInstance: Instance
        }
        let answer: Answer
        do {
            answer = try await api.call("RegisterContainerInstance", registration, answer: Answer.self)
        } catch let error where error.code == .invalidRequest && error.message.contains("Cluster not found") {
            // The control plane answers an unknown cluster as ECS does (ClientException). As the ECS agent
            // does, the default cluster is created; any other is the operator's to create.
            guard registration.cluster == "default" else { throw ControlPlaneError(.clusterNotFound, error.message) }
            logger.info("Creating the default cluster, which the control plane does not have")
            _ = try await api.call("CreateCluster", ["clusterName": "default"])
            answer = try await api.call("RegisterContainerInstance", registration, answer: Answer.self)
        }
        let arn = answer.containerInstance.containerInstanceArn
        guard let clusterArn = Self.clusterArn(ofInstance: arn) else {
            throw ControlPlaneError(.unavailable, "RegisterContainerInstance answered '\(arn)', not an instance ARN")
        }
        state.withLock { $0.clusterArns[arn] = clusterArn }
        return RegisteredInstance(containerInstanceArn: arn, clusterArn: clusterArn)
    }

    public func submit(_ change: TaskStateChange, instanceArn: String) async throws(ControlPlaneError) {
        let request = StateChangeRequest(change, cluster: cluster(of: instanceArn))
        _ = try await api.call("SubmitTaskStateChange", request)
    }

    /// Liveness is the payload channel's own: the control plane heartbeats it and the agent answers each
    /// heartbeat as it reads it. Nothing goes over the API; a closed channel is reopened by `connect`.
    public func heartbeat(instanceArn: String) async throws(ControlPlaneError) {}

    public func verifyStops(
        manifestID: String,
        candidates: [String],
        instanceArn: String
    ) async throws(ControlPlaneError) {
        guard let channel = state.withLock({ $0.channel }), channel.instanceArn == instanceArn else {
            throw ControlPlaneError(.unavailable, "the payload channel is closed; the next manifest will ask again")
        }
        let message = ACSTaskStopVerificationMessage(
            messageId: manifestID,
            stopCandidates: candidates.map {
                ACSTaskIdentifier(taskArn: $0, taskClusterArn: channel.clusterArn, desiredStatus: "RUNNING")
            }
        )
        do {
            try await channel.outbound.writeTextMessage(ACSMessage.taskStopVerification(message).frame())
        } catch {
            throw ControlPlaneError(.unavailable, "cannot write to the payload channel: \(error)")
        }
    }

    public func acknowledge(messageID: String, instanceArn: String) async throws(ControlPlaneError) {
        guard let channel = state.withLock({ $0.channel }), channel.instanceArn == instanceArn else {
            throw ControlPlaneError(.unavailable, "the payload channel is closed; the payload will come again")
        }
        let ack = ACSAckRequest(cluster: channel.clusterArn, containerInstance: instanceArn, messageId: messageID)
        do {
            try await channel.outbound.writeTextMessage(ACSMessage.ack(ack).frame())
        } catch {
            throw ControlPlaneError(.unavailable, "cannot write to the payload channel: \(error)")
        }
    }

    // MARK: The payload channel

    public func connect(instanceArn: String) async throws(ControlPlaneError) -> PayloadStream {
        let clusterArn = cluster(of: instanceArn)
        let (url, discovered) = try await channelURL(instanceArn: instanceArn, clusterArn: clusterArn)
        let (stream, continuation) = PayloadStream.makeStream(bufferingPolicy: .unbounded)
        let opened = OpenedSignal()
        let channelTask = Task {
            let ending: ControlPlaneError?
            do {
                ending = try await self.run(
                    url: url,
                    instanceArn: instanceArn,
                    continuation: continuation,
                    opened: opened
                )
            } catch {
                if let discovered, Self.isConnectionFailure(error) {
                    self.state.withLock { $0.pollEndpoint.forget(discovered) }
                }
                let failure = await self.refusal(url: url, error: error)
                opened.fail(failure)
                ending = failure
            }
            opened.fail(ControlPlaneError(.unavailable, "the payload channel closed before it opened"))
            if let ending {
                continuation.finish(throwing: ending)
            } else {
                continuation.finish()
            }
        }
        continuation.onTermination = { _ in channelTask.cancel() }
        do {
            try await opened.wait()
        } catch {
            channelTask.cancel()
            throw error
        }
        return stream
    }

    /// Runs one WebSocket connection until it closes; nil when it was closed on purpose (by a CloseMessage,
    /// a clean close frame or recycling), else why it ended.
    private func run(
        url: String,
        instanceArn: String,
        continuation: PayloadStream.Continuation,
        opened: OpenedSignal
    ) async throws -> ControlPlaneError? {
        var configuration = WebSocketClientConfiguration(
            maxFrameSize: ACSMessage.maximumFrameSize,
            additionalHeaders: signedHeaders(url: url)
        )
        // A close the control plane does not answer soon is not waited for (the path may be dead).
        configuration.closeTimeout = .seconds(5)
        let (tls, serverName) = try channelTLS(for: url)
        configuration.sniHostname = serverName
        let timing = self.timing
        let logger = self.logger
        let ending = ChannelEnding()
        let closeFrame = try await WebSocketClient.connect(
            url: url,
            configuration: configuration,
            tlsConfiguration: tls,
            logger: logger
        ) { inbound, outbound, _ in
            let id = self.state.withLock { state -> Int in
                state.nextChannelID += 1
                state.channel = OpenChannel(
                    id: state.nextChannelID,
                    instanceArn: instanceArn,
                    clusterArn: state.clusterArns[instanceArn],
                    outbound: outbound
                )
                return state.nextChannelID
            }
            defer { self.state.withLock { if $0.channel?.id == id { $0.channel = nil } } }
            opened.succeed()
            logger.info("Payload channel open", metadata: ["url": "\(url.prefix { $0 != "?" })"])
            let lastFrame = LastFrame()
            // The channel ends when the control plane's side ends, or as soon as the watch closes it: a dead
            // path never answers the close, and reading on would wait for TCP to give up, many minutes later.
            // (A payload that comes after the close goes unacknowledged, and so comes again.)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await Self.watch(
                        lastFrame: lastFrame,
                        outbound: outbound,
                        ending: ending,
                        timing: timing,
                        logger: logger
                    )
                }
                group.addTask {
                    for try await message in inbound.messages(maxSize: ACSMessage.maximumFrameSize) {
                        lastFrame.touch()
                        guard case .text(let text) = message else { continue }
                        guard
                            try await self.handle(frame: text, outbound: outbound, continuation: continuation, id: id)
                        else {
                            ending.set(.closedOnPurpose)
                            break
                        }
                    }
                }
                _ = try await group.next()
                group.cancelAll()
            }
        }
        switch ending.value {
        case .closedOnPurpose: return nil
        case .failed(let error): return error
        case nil:
            guard let closeFrame else {
                return ControlPlaneError(.unavailable, "the payload channel was lost")
            }
            if closeFrame.closeCode == .normalClosure || closeFrame.closeCode == .goingAway { return nil }
            return ControlPlaneError(
                .unavailable,
                "the control plane closed the payload channel (\(closeFrame.closeCode)\(closeFrame.reason.map { ": \($0)" } ?? ""))"
            )
        }
    }

    /// Closes a channel that went silent or lived its time.
    private static func watch(
        lastFrame: LastFrame,
        outbound: WebSocketOutboundWriter,
        ending: ChannelEnding,
        timing: Timing,
        logger: Logger
    ) async throws {
        let opened = ContinuousClock.now
        let silence = timing.silenceBeforeClose + jitter(upTo: timing.silenceJitter)
        let lifetime = timing.connectionLifetime + jitter(upTo: timing.lifetimeJitter)
        let tick = min(silence, lifetime) / 10
        while true {
            try await Task.sleep(for: tick)
            let now = ContinuousClock.now
            if now - lastFrame.instant > silence {
                logger.warning(
                    "The payload channel has been silent too long; reconnecting",
                    metadata: ["silence": "\(silence)"]
                )
                ending.set(.failed(ControlPlaneError(.unavailable, "the payload channel was silent for \(silence)")))
                try await outbound.close(.goingAway, reason: "silent")
                return
            }
            if now - opened > lifetime {
                logger.info("Recycling the payload channel", metadata: ["lifetime": "\(lifetime)"])
                ending.set(.closedOnPurpose)
                try await outbound.close(.normalClosure, reason: "ConnectionExpired")
                return
            }
        }
    }

    /// Handles one frame; false when the channel is to close.
    private func handle(
        frame text: String,
        outbound: WebSocketOutboundWriter,
        continuation: PayloadStream.Continuation,
        id: Int
    ) async throws -> Bool {
        let message: ACSMessage?
        do {
            message = try ACSMessage.parse(text)
        } catch {
            logger.warning("Dropped a frame of the payload channel", metadata: ["error": "\(error)"])
            return true
        }
        switch message {
        case .payload(let payload):
            do {
                let converted = try payload.payloadMessage()
                if let clusterArn = payload.clusterArn {
                    state.withLock { if $0.channel?.id == id { $0.channel?.clusterArn = clusterArn } }
                }
                continuation.yield(.payload(converted))
            } catch {
                // Not acknowledged: the control plane sends it again, and the log says why it was not taken.
                logger.error(
                    "A payload could not be read",
                    metadata: ["message.id": "\(payload.messageId)", "error": "\(error)"]
                )
            }
        case .heartbeat(let heartbeat):
            try await outbound.writeTextMessage(
                ACSMessage.heartbeatAck(ACSHeartbeatAckRequest(messageId: heartbeat.messageId)).frame()
            )
        case .close(let close):
            logger.info("The control plane closes the payload channel", metadata: ["reason": "\(close.message ?? "")"])
            try await outbound.close(.normalClosure, reason: nil)
            return false
        case .error(let error):
            logger.warning(
                "The control plane reported an error on the payload channel",
                metadata: ["error": "\(error.message ?? "")"]
            )
        case .taskManifest(let manifest):
            continuation.yield(
                .taskManifest(
                    TaskManifest(
                        messageID: manifest.messageId,
                        timeline: manifest.timeline ?? manifest.generatedAt ?? 0,
                        tasks: manifest.tasks.map {
                            // A status this side does not know counts as listed: only STOPPED stops.
                            TaskManifest.Entry(
                                taskArn: $0.taskArn,
                                desiredStatus: $0.desiredStatus.flatMap(DesiredStatus.init(rawValue:)) ?? .running
                            )
                        }
                    )
                )
            )
        case .taskStopVerificationAck(let answer):
            continuation.yield(
                .stopsConfirmed(manifestID: answer.messageId, taskArns: answer.stopTasks.map(\.taskArn))
            )
        case .ack, .nack, .heartbeatAck, .taskStopVerification, nil:
            break
        }
        return true
    }

    /// The channel's URL, and the discovered endpoint it is at (nil for the API's own address): where
    /// DiscoverPollEndpoint says (see ``PollEndpointCache``), unless it names no host this agent can reach (a
    /// control plane listening on 0.0.0.0 says so), then the API's own address.
    private func channelURL(
        instanceArn: String,
        clusterArn: String
    ) async throws(ControlPlaneError) -> (url: String, discovered: URL?) {
        struct Request: Encodable {
            var containerInstance: String
            var cluster: String
        }
        struct Answer: Decodable { var endpoint: String? }
        var discovered = state.withLock { $0.pollEndpoint.current(for: instanceArn, now: .now) }
        if discovered == nil {
            do {
                let answer = try await api.call(
                    "DiscoverPollEndpoint",
                    Request(containerInstance: instanceArn, cluster: clusterArn),
                    answer: Answer.self
                )
                if let endpoint = answer.endpoint.flatMap(URL.init(string:)), let host = endpoint.host,
                    !["", "0.0.0.0", "::", "[::]"].contains(host), endpoint.port != 0
                {
                    discovered = endpoint
                    state.withLock { $0.pollEndpoint.record(endpoint, for: instanceArn, now: .now) }
                }
            } catch let error where !error.isTransient {
                throw error
            } catch {
                discovered = state.withLock { $0.pollEndpoint.fallback(for: instanceArn) }
                logger.info(
                    "DiscoverPollEndpoint failed; using its last answer, else the API's address",
                    metadata: [
                        "error": "\(error)", "endpoint": "\(discovered?.absoluteString ?? api.baseURL.absoluteString)",
                    ]
                )
            }
        }
        let base = discovered ?? api.baseURL
        var components = URLComponents(url: base, resolvingAgainstBaseURL: false) ?? URLComponents()
        components.scheme = base.scheme == "https" ? "wss" : "ws"
        components.path = "/ws"
        let items: [(String, String)] = [
            ("agentHash", identity.agentHash ?? ""), ("agentVersion", identity.agentVersion),
            ("clusterArn", clusterArn), ("containerInstanceArn", instanceArn),
            ("dockerVersion", identity.dockerVersion.map { "DockerVersion: \($0)" } ?? ""),
            ("protocolVersion", "2"), ("sendCredentials", "false"), ("seqNum", "1"),
        ]
        components.percentEncodedQuery = items.map { "\($0.0)=\(SigV4Verifier.encodeComponent($0.1))" }.joined(
            separator: "&"
        )
        guard let url = components.string else {
            throw ControlPlaneError(.invalidRequest, "cannot make the payload channel's URL from \(base)")
        }
        return (url, discovered)
    }

    /// Whether opening a channel failed before any answer came (nothing listens there, or the path is
    /// dead), rather than being refused.
    static func isConnectionFailure(_ error: any Error) -> Bool {
        if error is ControlPlaneError { return false }
        if let failure = error as? WebSocketClientError, failure == .webSocketUpgradeFailed { return false }
        return true
    }

    /// The TLS of a channel to `url`, and the server name to send. TLS carries no IP address as a server
    /// name, and the WebSocket client always sends one, so a channel to an IP address cannot have its
    /// certificate's name checked: that is accepted only when the chain must lead to the operator's own CA
    /// (BERTH_BACKEND_CA_FILE), whose certificates are all the control plane's; with the system's store it is
    /// refused. (The signed API calls, over another client, check the address against the certificate.)
    func channelTLS(for url: String) throws(ControlPlaneError) -> (TLSConfiguration?, String?) {
        guard var tls, let host = URLComponents(string: url)?.host, Self.isIPAddress(host) else { return (tls, nil) }
        guard trustsPrivateCA else {
            throw ControlPlaneError(
                .invalidRequest,
                "the payload channel at \(host) is an IP address over TLS, whose certificate name cannot be checked; "
                    + "name the control plane by its DNS name, or trust its own CA with BERTH_BACKEND_CA_FILE"
            )
        }
        tls.certificateVerification = .noHostnameVerification
        return (tls, "berth-control-plane")
    }

    public static func isIPAddress(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if bare.contains(":") { return true }
        let parts = bare.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    /// The upgrade request's SigV4 headers: `host` and `x-amz-date` signed, the empty body's hash.
    private func signedHeaders(url: String) -> HTTPFields {
        let components = URLComponents(string: url)
        var host = components?.host ?? ""
        if host.contains(":") { host = "[\(host)]" }
        if let port = components?.port { host += ":\(port)" }
        let signed = api.signer.sign(
            method: "GET",
            path: components?.percentEncodedPath ?? "/ws",
            query: components?.percentEncodedQuery ?? "",
            headers: [(name: "host", value: host)],
            body: Data()
        )
        var fields = HTTPFields()
        for header in signed {
            if let name = HTTPField.Name(header.name) { fields[name] = header.value }
        }
        return fields
    }

    /// Why an upgrade failed: the control plane writes the reason as `{"<Exception>": "message"}` in the
    /// body of its refusal, which a WebSocket client does not show, so the same request is made as a plain
    /// GET to read it.
    private func refusal(url: String, error: any Error) async -> ControlPlaneError {
        if let error = error as? ControlPlaneError { return error }
        guard let failure = error as? WebSocketClientError, failure == .webSocketUpgradeFailed else {
            return ControlPlaneError(.unavailable, "cannot open the payload channel: \(error)")
        }
        let plain = url.replacingOccurrences(of: "wss://", with: "https://").replacingOccurrences(
            of: "ws://",
            with: "http://"
        )
        var request = HTTPClientRequest(url: plain)
        for field in signedHeaders(url: url) { request.headers.add(name: field.name.rawName, value: field.value) }
        do {
            let response = try await api.httpClient.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 64 * 1024)
            let refusal = try? JSONDecoder().decode([String: String].self, from: Data(body.readableBytesView))
            guard let (type, message) = refusal?.first else {
                return ControlPlaneError(.unavailable, "the payload channel was refused: HTTP \(response.status.code)")
            }
            return ControlPlaneError(
                SignedECSClient.code(type: type, status: response.status.code),
                "the payload channel was refused: \(type): \(message)"
            )
        } catch {
            return ControlPlaneError(
                .unavailable,
                "the payload channel was refused, and the reason could not be read: \(error)"
            )
        }
    }

    // MARK: Helpers

    private func cluster(of instanceArn: String) -> String {
        state.withLock { $0.clusterArns[instanceArn] } ?? Self.clusterArn(ofInstance: instanceArn) ?? ""
    }

    /// `arn:…:container-instance/CLUSTER/ID` → `arn:…:cluster/CLUSTER`.
    static func clusterArn(ofInstance arn: String) -> String? {
        guard let range = arn.range(of: ":container-instance/") else { return nil }
        let rest = arn[range.upperBound...].split(separator: "/")
        guard rest.count == 2 else { return nil }
        return arn[..<range.lowerBound] + ":cluster/\(rest[0])"
    }

    static func jitter(upTo limit: Duration) -> Duration {
        let milliseconds = limit.components.seconds * 1000 + limit.components.attoseconds / 1_000_000_000_000_000
        guard milliseconds > 0 else { return .zero }
        return .milliseconds(Int64.random(in: 0...milliseconds))
    }
}

/// Why a channel ended, when this side knows: the first reason set wins.
final class ChannelEnding: Sendable {
    enum Reason: Sendable {
        case closedOnPurpose
        case failed(ControlPlaneError)
    }
    private let reason = Mutex<Reason?>(nil)
    func set(_ new: Reason) { reason.withLock { if $0 == nil { $0 = new } } }
    var value: Reason? { reason.withLock { $0 } }
}

/// When the channel last read a frame.
final class LastFrame: Sendable {
    private let last = Mutex(ContinuousClock.now)
    func touch() { last.withLock { $0 = .now } }
    var instant: ContinuousClock.Instant { last.withLock { $0 } }
}

/// Resolves once: the channel opened, or why it did not.
final class OpenedSignal: Sendable {
    private let state = Mutex<
        (result: Result<Void, ControlPlaneError>?, waiter: CheckedContinuation<Void, any Error>?)
    >(
        (nil, nil)
    )

    func succeed() { resolve(.success(())) }
    func fail(_ error: ControlPlaneError) { resolve(.failure(error)) }

    private func resolve(_ result: Result<Void, ControlPlaneError>) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result.mapError { $0 as any Error })
    }

    func wait() async throws(ControlPlaneError) {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready = state.withLock { state -> Result<Void, ControlPlaneError>? in
                    if state.result == nil { state.waiter = continuation }
                    return state.result
                }
                if let ready { continuation.resume(with: ready.mapError { $0 as any Error }) }
            }
        } catch let error as ControlPlaneError {
            throw error
        } catch {
            throw ControlPlaneError(.unavailable, "\(error)")
        }
    }
}

/// SubmitTaskStateChange as the ECS agent sends it, with Berth's members beside ECS's: the change's sequence
/// number, when it happened, its stop code and each container's health, so the control plane folds it exactly
/// as an in-process report.
struct StateChangeRequest: Encodable {
    struct Container: Encodable {
        var containerName: String
        var runtimeId: String?
        var status: String
        var exitCode: Int?
        var reason: String?
        var networkBindings: [NetworkBinding]?
        var imageDigest: String?
        var healthStatus: String?
    }

    var cluster: String
    var task: String
    var status: String
    var reason: String?
    var containers: [Container]
    var pullStartedAt: Timestamp?
    var pullStoppedAt: Timestamp?
    var executionStoppedAt: Timestamp?
    var sequence: Int
    var reportedAt: Timestamp
    var stopCode: String?

    init(_ change: TaskStateChange, cluster: String) {
        self.cluster = cluster
        task = change.taskArn
        status = change.status.rawValue
        // ECS takes at most 1024 characters of a reason.
        reason = change.reason.map { String($0.prefix(1024)) }
        containers = change.containers.map {
            Container(
                containerName: $0.containerName,
                runtimeId: $0.runtimeId,
                status: $0.status.rawValue,
                exitCode: $0.exitCode,
                reason: $0.reason.map { String($0.prefix(1024)) },
                networkBindings: $0.networkBindings,
                imageDigest: $0.imageDigest,
                healthStatus: $0.healthStatus?.rawValue
            )
        }
        pullStartedAt = change.pullStartedAt
        pullStoppedAt = change.pullStoppedAt
        executionStoppedAt = change.executionStoppedAt
        sequence = change.sequence
        reportedAt = change.at
        stopCode = change.stopCode?.rawValue
    }
}
