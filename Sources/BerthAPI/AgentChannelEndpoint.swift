import BerthAgentChannel
public import BerthControlPlane
import BerthModel
import Foundation
import HTTPTypes
public import Hummingbird
public import HummingbirdCore
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
    /// `/ws`, frames up to ``ACSMessage/maximumFrameSize`` (see ``AgentChannelServerChannel``).
    public func serverBuilder() -> HTTPServerBuilder {
        HTTPServerBuilder { responder in AgentChannelServerChannel(responder: responder, endpoint: self) }
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

        /// `{"<Exception>": "message"}`, as the ECS agent reads a refusal.
        var body: Data { (try? JSONEncoder().encode([type: message])) ?? Data() }

        var response: Response {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    func authorize(_ head: HTTPRequest) async -> Result<Peer, Refusal> {
        let components = URLComponents(string: head.path ?? "")
        guard components?.path == Self.path else {
            return .failure(Refusal(type: "ClientException", message: "Not the payload channel.", status: .notFound))
        }
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

    /// The connection of an upgraded channel for `peer`: it connects the agent as its first work.
    func open(_ peer: Peer, channel: any Channel) -> AgentChannelConnection {
        var logger = self.logger
        logger[metadataKey: "instance"] = "\(peer.instanceArn)"
        let session = WebSocketAgentSession(
            peer: peer,
            channel: channel,
            openedAt: .now,
            manifestInterval: timing.manifestInterval,
            logger: logger
        )
        return AgentChannelConnection(endpoint: self, session: session, channel: channel)
    }

    /// Gives the control plane the agent's session and sends it its manifest; false when the control plane
    /// refuses it, which the agent is told before the channel closes.
    func connect(_ session: WebSocketAgentSession) async -> Bool {
        do throws(ControlPlaneError) {
            try await controlPlane.agentConnected(instanceArn: session.peer.instanceArn, session: session)
        } catch {
            let refused = Self.refusal(error)
            session.refuse(
                .error(ACSErrorMessage(message: "\(refused.type): \(refused.message)")),
                code: .policyViolation,
                reason: refused.type
            )
            return false
        }
        keeper.keep(session)
        // Beside the channel's work, so that frames are not held up while the manifest is gathered.
        Task { await keeper.sendManifest(to: session) }
        return true
    }

    /// The agent's channel ended: the control plane no longer counts it connected.
    func disconnected(_ session: WebSocketAgentSession) async {
        await controlPlane.agentDisconnected(instanceArn: session.peer.instanceArn, session: session)
        // Last: a shutting-down keeper waits for its sessions to be let go of (``ChannelKeeper/run()``).
        keeper.release(session)
    }

    /// Takes one text frame from the agent; whether the channel goes on.
    func take(_ text: String, session: WebSocketAgentSession) async -> Bool {
        switch Incoming(text) {
        case .heartbeatAnswer:
            session.heartbeatAnswered()
            return await goesOn(session) { () throws(ControlPlaneError) in
                try await controlPlane.heartbeat(instanceArn: session.peer.instanceArn)
            }
        case .frame(let frame):
            return await handle(frame, session: session, logger: session.logger)
        case .unreadable(let error):
            session.logger.warning("Unreadable frame from the agent", metadata: ["error": "\(error.message)"])
            await session.send(.error(ACSErrorMessage(message: error.message)))
            return true
        }
    }

    /// A text frame from the agent, read.
    private enum Incoming: Sendable {
        case heartbeatAnswer
        case frame(ACSMessage?)
        case unreadable(ControlPlaneError)

        init(_ text: String) {
            do throws(ControlPlaneError) {
                let frame = try ACSMessage.parse(text)
                if case .heartbeatAck = frame { self = .heartbeatAnswer } else { self = .frame(frame) }
            } catch {
                self = .unreadable(error)
            }
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
