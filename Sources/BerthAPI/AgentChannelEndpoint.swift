import BerthAgentChannel
public import BerthControlPlane
import BerthModel
import Foundation
import HTTPTypes
public import Hummingbird
public import HummingbirdCore
import HummingbirdWebSocket
public import Logging
import NIOCore
import NIOWebSocket
public import SigV4
import Synchronization

/// The payload channel on the ECS API's listener, as the ECS agent opens it: `GET /ws?clusterArn=…&
/// containerInstanceArn=…&…`, SigV4-signed when the API checks signatures, upgraded to a WebSocket that
/// carries ACS frames for that one instance. The control plane sends PayloadMessage and, when the channel
/// is idle, HeartbeatMessage; the agent answers AckRequest and HeartbeatAckRequest. A connection whose
/// heartbeats go unanswered is closed. A refused upgrade is answered as the ECS agent expects:
/// `{"<ExceptionName>": "message"}`.
public struct AgentChannelEndpoint: Sendable {
    public static let path = "/ws"

    /// How the control plane keeps a quiet channel alive, and notices a dead one.
    public struct Timing: Sendable, Hashable {
        /// A heartbeat is sent after this long without a frame to the agent (the ECS agent closes a channel
        /// silent for a minute, and proxies often cut idle connections at 60 s).
        public var heartbeatInterval: Duration = .seconds(20)
        /// The connection is closed when this many heartbeats in a row went unanswered.
        public var missedHeartbeatsBeforeClose = 2
        /// A heartbeat still being written after this long means the agent no longer reads its channel,
        /// which is then closed; nil: one heartbeat interval.
        public var heartbeatWriteLimit: Duration? = nil
        /// A TaskManifestMessage is sent when the agent connects and then this often, so that an agent
        /// learns of tasks the control plane no longer places on it (and stops them, once confirmed).
        public var manifestInterval: Duration = .seconds(300)

        public init() {}
    }

    let controlPlane: ControlPlane
    let verifier: SigV4Verifier?
    let timing: Timing
    let logger: Logger
    /// Heartbeats and manifests for every open channel: a service the server's application must run.
    public let keeper: ChannelKeeper

    public init(controlPlane: ControlPlane, verifier: SigV4Verifier?, timing: Timing = Timing(), logger: Logger) {
        self.controlPlane = controlPlane
        self.verifier = verifier
        self.timing = timing
        self.logger = logger
        self.keeper = ChannelKeeper(controlPlane: controlPlane, timing: timing, logger: logger)
    }

    /// The server of the ECS API with the payload channel beside it: HTTP/1.1 with the WebSocket upgrade of
    /// `/ws`, frames up to ``ACSMessage/maximumFrameSize``.
    public func serverBuilder() -> HTTPServerBuilder {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws(
            RouterPath(stringLiteral: Self.path),
            shouldUpgrade: { request, _ in
                switch await authorizeInChild(request.head) {
                case .success: .upgrade([:])
                case .failure: .dontUpgrade
                }
            },
            onUpgrade: { inbound, outbound, context in
                // The same request was authorized a moment ago; its peer is read again from it.
                guard case .success(let peer) = await authorizeInChild(context.request.head) else { return }
                await serve(peer, inbound: inbound, outbound: outbound)
            }
        )
        return .http1WebSocketUpgrade(
            webSocketRouter: router,
            configuration: .init(
                ws: WebSocketServerConfiguration(maxFrameSize: ACSMessage.maximumFrameSize, autoPing: .disabled)
            )
        )
    }

    /// `GET /ws` that was not upgraded lands on the API's router: it is answered with why.
    public func addRefusal<Context: RequestContext>(to router: Router<Context>) {
        router.get(RouterPath(stringLiteral: Self.path)) { request, _ -> Response in
            switch await authorize(request.head) {
            case .failure(let refusal):
                return refusal.response
            case .success:
                return Refusal(
                    type: "ClientException",
                    message: "The payload channel is a WebSocket: send the upgrade headers.",
                    status: .badRequest
                ).response
            }
        }
    }

    // MARK: The upgrade

    /// The instance a channel speaks for, and its cluster.
    struct Peer: Sendable {
        var instanceArn: String
        var clusterArn: String
    }

    /// Why an upgrade was refused, in the ECS agent's terms.
    struct Refusal: Error {
        var type: String
        var message: String
        var status: HTTPResponse.Status

        var response: Response {
            let body = (try? JSONEncoder().encode([type: message])) ?? Data()
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    /// ``authorize(_:)`` in a child task: the connection's task lives as long as the channel, and keeps
    /// the largest stack its calls ever needed (see ``inChildTask(otherwise:_:)``).
    func authorizeInChild(_ head: HTTPRequest) async -> Result<Peer, Refusal> {
        await Self.inChildTask(
            otherwise: .failure(
                Refusal(type: "ServerException", message: "not authorized", status: .internalServerError)
            )
        ) { await authorize(head) }
    }

    /// Runs `work` in a child task and waits for it. A task keeps the largest stack its calls ever needed
    /// for as long as it lives (the task allocator reuses its slabs and never frees them), and a channel's
    /// tasks live for hours: deep one-off work (authorizing, connecting, handling a payload's
    /// acknowledgement) done in a child gives its stack back when the child ends. At thousands of channels
    /// this held a few tens of KiB each.
    static func inChildTask<Value: Sendable>(
        otherwise fallback: Value,
        _ work: @escaping @Sendable () async -> Value
    ) async -> Value {
        await withTaskGroup(of: Value.self) { group in
            group.addTask(operation: work)
            // (One task was added: next() returns its value; the fallback is never used.)
            return await group.next() ?? fallback
        }
    }

    func authorize(_ head: HTTPRequest) async -> Result<Peer, Refusal> {
        let components = URLComponents(string: head.path ?? "")
        let query = components?.percentEncodedQuery ?? ""
        var accessKeyID: String?
        if let verifier {
            do {
                accessKeyID =
                    try verifier.verify(
                        method: head.method.rawValue,
                        path: components?.percentEncodedPath ?? Self.path,
                        query: query,
                        headers: head.signableHeaders,
                        body: Data()
                    ).accessKeyID
            } catch {
                return .failure(Refusal(type: error.code.rawValue, message: error.message, status: .forbidden))
            }
        }
        let items = components?.queryItems ?? []
        guard let instanceArn = items.first(where: { $0.name == "containerInstanceArn" })?.value,
            !instanceArn.isEmpty
        else {
            return .failure(
                Refusal(
                    type: "InvalidInstanceException",
                    message: "The query names no containerInstanceArn.",
                    status: .badRequest
                )
            )
        }
        do {
            let clusterArn = try await controlPlane.channelPeer(instanceArn: instanceArn, accessKeyID: accessKeyID)
            if let cluster = items.first(where: { $0.name == "clusterArn" })?.value, !cluster.isEmpty,
                cluster != clusterArn, !clusterArn.hasSuffix(":cluster/\(cluster)")
            {
                return .failure(
                    Refusal(
                        type: "InvalidClusterException",
                        message: "Container instance \(instanceArn) is not in cluster \(cluster).",
                        status: .badRequest
                    )
                )
            }
            return .success(Peer(instanceArn: instanceArn, clusterArn: clusterArn))
        } catch {
            return .failure(Self.refusal(error))
        }
    }

    static func refusal(_ error: ControlPlaneError) -> Refusal {
        switch error.code {
        case .instanceInactive:
            Refusal(type: "InactiveInstanceException", message: error.message, status: .badRequest)
        case .accessDenied:
            Refusal(type: "AccessDeniedException", message: error.message, status: .forbidden)
        case .clusterNotFound:
            Refusal(type: "InvalidClusterException", message: error.message, status: .badRequest)
        default:
            Refusal(type: "ServerException", message: error.message, status: .internalServerError)
        }
    }

    // MARK: The channel

    /// Runs one agent's channel until either side closes it or its heartbeats go unanswered.
    func serve(_ peer: Peer, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let logger = {
            var logger = self.logger
            logger[metadataKey: "instance"] = "\(peer.instanceArn)"
            return logger
        }()
        let session = WebSocketAgentSession(
            peer: peer,
            outbound: outbound,
            openedAt: .now,
            manifestInterval: timing.manifestInterval,
            logger: logger
        )
        let refused = await Self.inChildTask(otherwise: nil) { [controlPlane] () -> Refusal? in
            do throws(ControlPlaneError) {
                try await controlPlane.agentConnected(instanceArn: peer.instanceArn, session: session)
                return nil
            } catch {
                return Self.refusal(error)
            }
        }
        if let refused {
            await session.send(.error(ACSErrorMessage(message: "\(refused.type): \(refused.message)")))
            try? await outbound.close(.policyViolation, reason: refused.type)
            return
        }
        keeper.keep(session)
        // The session ends when the agent's side ends, or when the control plane closes it (heartbeats
        // unanswered, replaced, deregistered): a dead path never answers the close either, so reading is
        // cancelled and the agent is counted disconnected at once, not when TCP gives up many minutes later.
        // The group discards its children as they finish and this task does the waiting itself: every task
        // a channel keeps alive holds its stack as long as the agent stays connected, thousands of times over.
        await withDiscardingTaskGroup { group in
            group.addTask { await self.keeper.sendManifest(to: session) }
            group.addTask {
                await self.read(inbound, session: session, logger: logger)
                session.close(reason: "the agent closed the channel")
            }
            await session.untilClosed()
            group.cancelAll()
        }
        keeper.release(session)
        await Self.inChildTask(otherwise: ()) { [controlPlane] in
            await controlPlane.agentDisconnected(instanceArn: peer.instanceArn, session: session)
        }
    }

    /// Reads the agent's frames until it closes the channel. Heartbeat answers, most of what comes, are
    /// taken here; the rest, which may run deep into the control plane, each in a child task.
    private func read(_ inbound: WebSocketInboundStream, session: WebSocketAgentSession, logger: Logger) async {
        do {
            for try await message in inbound.messages(maxSize: ACSMessage.maximumFrameSize) {
                let goesOn: Bool
                switch Incoming(message) {
                case .heartbeatAnswer:
                    session.heartbeatAnswered()
                    goesOn = await self.goesOn(session) { () throws(ControlPlaneError) in
                        try await controlPlane.heartbeat(instanceArn: session.peer.instanceArn)
                    }
                case let incoming:
                    goesOn = await Self.inChildTask(otherwise: true) {
                        await self.take(incoming, session: session, logger: logger)
                    }
                }
                guard goesOn else { return }
            }
        } catch {
            logger.info("Payload channel ended", metadata: ["error": "\(error)"])
        }
    }

    /// A message from the agent as the read loop sees it. Its cases are boxed: whatever the loop holds
    /// across a wait stays in its task's stack for as long as the channel is open, so it holds 8 bytes.
    private indirect enum Incoming: Sendable {
        case heartbeatAnswer
        case frame(ACSMessage?)
        case unreadable(ControlPlaneError)
        case binary

        init(_ message: WebSocketMessage) {
            guard case .text(let text) = message else {
                self = .binary
                return
            }
            do throws(ControlPlaneError) {
                let frame = try ACSMessage.parse(text)
                if case .heartbeatAck = frame { self = .heartbeatAnswer } else { self = .frame(frame) }
            } catch {
                self = .unreadable(error)
            }
        }
    }

    /// Takes a message other than a heartbeat answer; whether the channel goes on.
    private func take(_ incoming: Incoming, session: WebSocketAgentSession, logger: Logger) async -> Bool {
        switch incoming {
        case .heartbeatAnswer:
            // (The read loop takes these itself, without a child task; none comes here.)
            return true
        case .frame(let frame):
            return await handle(frame, session: session, logger: logger)
        case .unreadable(let error):
            logger.warning("Unreadable frame from the agent", metadata: ["error": "\(error.message)"])
            await session.send(.error(ACSErrorMessage(message: error.message)))
            return true
        case .binary:
            logger.warning("Binary frame on the payload channel ignored")
            return true
        }
    }

    /// Whether the channel goes on after `work`: not when the control plane refused it (the instance was
    /// deregistered, or the store failed, while connected), which the agent is told.
    private func goesOn(
        _ session: WebSocketAgentSession,
        after work: () async throws(ControlPlaneError) -> Void
    ) async -> Bool {
        do {
            try await work()
            return true
        } catch {
            let refusal = Self.refusal(error)
            await session.send(.error(ACSErrorMessage(message: "\(refusal.type): \(refusal.message)")))
            return false
        }
    }

    /// Takes one frame other than a heartbeat answer; whether the channel goes on.
    private func handle(_ frame: ACSMessage?, session: WebSocketAgentSession, logger: Logger) async -> Bool {
        switch frame {
        case .ack(let ack):
            return await goesOn(session) { () throws(ControlPlaneError) in
                try await controlPlane.payloadAcknowledged(
                    messageID: ack.messageId,
                    instanceArn: session.peer.instanceArn
                )
            }
        case .taskStopVerification(let verification):
            await session.send(.taskStopVerificationAck(await stopVerificationAck(verification, session: session)))
        case .nack(let nack):
            logger.warning(
                "The agent could not take a payload; it is sent again when it reconnects",
                metadata: ["messageId": "\(nack.messageId)", "reason": "\(nack.reason ?? "")"]
            )
        case .close(let close):
            logger.info("The agent closes the channel", metadata: ["reason": "\(close.message ?? "")"])
            return false
        case .some(let other):
            logger.debug("Frame not expected from an agent ignored", metadata: ["type": "\(other.typeName)"])
        case nil:
            logger.debug("Frame of an unknown type ignored")
        }
        return true
    }

    /// Answers a stop verification: of its candidates, the tasks the control plane confirms the agent may
    /// stop; none when it answers a manifest other than the latest this connection sent.
    private func stopVerificationAck(
        _ verification: ACSTaskStopVerificationMessage,
        session: WebSocketAgentSession
    ) async -> ACSTaskStopVerificationAck {
        let generatedAt = ACSMessage.millisecondsSinceEpoch()
        guard verification.messageId == session.latestManifestID() else {
            return ACSTaskStopVerificationAck(
                messageId: verification.messageId,
                stopTasks: [],
                generatedAt: generatedAt
            )
        }
        let confirmed = Set(
            await controlPlane.confirmedStops(
                verification.stopCandidates.map(\.taskArn),
                instanceArn: session.peer.instanceArn
            )
        )
        let stopTasks = verification.stopCandidates.filter { confirmed.contains($0.taskArn) }.map {
            ACSTaskIdentifier(taskArn: $0.taskArn, taskClusterArn: $0.taskClusterArn, desiredStatus: "STOPPED")
        }
        return ACSTaskStopVerificationAck(
            messageId: verification.messageId,
            stopTasks: stopTasks,
            generatedAt: generatedAt
        )
    }
}
