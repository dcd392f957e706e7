import BerthAgentChannel
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Synchronization

/// The API listener's connections: HTTP/1.1 for the ECS API, and the payload channel's WebSocket upgrade
/// of ``AgentChannelEndpoint/path``. An upgraded channel is handed to NIO handlers
/// (``AgentChannelFrameHandler``) and the connection's task ends: no task stays with an idle channel (see
/// ``AgentChannelConnection``). An upgrade that is refused goes on as the plain request it also is, so the
/// API's router answers it with why (``AgentChannelEndpoint/addRefusal(to:)``).
struct AgentChannelServerChannel: ServerChildChannel, HTTPChannelHandler {
    enum Negotiated: Sendable {
        /// Upgraded: the channel's handlers serve it from here.
        case agentChannel
        /// An upgrade refused: answered with why, as the ECS agent reads it, and the connection closed.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, AgentChannelEndpoint.Refusal)
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let endpoint: AgentChannelEndpoint

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let authorized = Mutex<Result<AgentChannelEndpoint.Peer, AgentChannelEndpoint.Refusal>?>(nil)
            let endpoint = self.endpoint
            let upgrader = NIOTypedWebSocketServerUpgrader<Negotiated>(
                maxFrameSize: ACSMessage.maximumFrameSize,
                enableAutomaticErrorHandling: true,
                shouldUpgrade: { channel, head in
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        let result =
                            if let request = try? HTTPRequest(head, secure: false, splitCookie: false) {
                                await endpoint.authorize(request)
                            } else {
                                Result<AgentChannelEndpoint.Peer, AgentChannelEndpoint.Refusal>.failure(
                                    .init(type: "ClientException", message: "Unreadable request.", status: .badRequest)
                                )
                            }
                        authorized.withLock { $0 = result }
                        guard case .success = result else { return nil }
                        return HTTPHeaders()
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard case .success(let peer) = authorized.withLock({ $0 }) else {
                            throw ChannelError.inappropriateOperationForState
                        }
                        let connection = endpoint.open(peer, channel: channel)
                        try channel.pipeline.syncOperations.addHandlers(
                            NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 1,
                                maxAccumulatedFrameCount: 1024,
                                maxAccumulatedFrameSize: ACSMessage.maximumFrameSize
                            ),
                            AgentChannelFrameHandler(connection: connection)
                        )
                        return .agentChannel
                    }
                }
            )
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration<Negotiated>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if case .failure(let refusal) = authorized.withLock({ $0 }) {
                            return .refused(http, refusal)
                        }
                        return .http(http)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrade)
            // As Hummingbird's own HTTP/1.1 channel: the async channel orders requests, errors are
            // answered by the application, and HTTP types validate the headers already.
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                configuration: configuration
            )
            return Value(negotiated: negotiated, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .agentChannel:
                return
            case .refused(let http, let refusal):
                try await Self.answer(refusal, on: http)
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            }
        } catch {
            logger.debug("Connection ended before its first request", metadata: ["error": "\(error)"])
        }
    }

    /// Answers a refused upgrade with `{"<Exception>": "message"}` and closes the connection.
    static func answer(
        _ refusal: AgentChannelEndpoint.Refusal,
        on http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
    ) async throws {
        let body = ByteBuffer(bytes: refusal.body)
        let head = HTTPResponse(
            status: refusal.status,
            headerFields: [
                .connection: "close", .contentType: "application/json", .contentLength: "\(body.readableBytes)",
            ]
        )
        try await http.executeThenClose { _, outbound in
            try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
        }
    }
}
