import Logging
import NIOCore
import NIOWebSocket

/// The last handler of an upgraded payload channel: WebSocket frames in, on the channel's event loop.
/// Messages go to the ``AgentChannelConnection``; control frames are answered here. Fragments come joined
/// by the `NIOWebSocketFrameAggregator` before it, and protocol errors are answered by NIO's error handler.
final class AgentChannelFrameHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let connection: AgentChannelConnection

    init(connection: AgentChannelConnection) {
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // A connection that ended during the upgrade sends no channelInactive here.
        if !context.channel.isActive { connection.channelEnded() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // A client masks its frames; joined fragments come unmasked already.
        var payload = frame.unmaskedData
        switch frame.opcode {
        case .text:
            connection.received(.text(payload.readString(length: payload.readableBytes) ?? ""))
        case .binary:
            connection.received(.binary)
        case .ping:
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: payload)),
                promise: nil
            )
        case .connectionClose:
            connection.channelEnded()
            if connection.session.closeFrameSent {
                // The agent answered our close: the closing handshake is done.
                context.close(promise: nil)
            } else {
                // The agent closes: its close frame is answered with its code, and the connection ends.
                let code = payload.readWebSocketErrorCode() ?? .normalClosure
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(connection.session.closeFrame(code)))
                    .whenComplete { _ in channel.close(promise: nil) }
            }
        default:
            // Pongs answer nothing we sent; continuations come joined.
            break
        }
    }

    func read(context: ChannelHandlerContext) {
        if connection.mayRead() { context.read() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server shuts down, and waits for every channel to close: the agent is told, and connects
        // again (to another replica, if any). The keeper has closed them already when it stopped first.
        if event is ChannelShouldQuiesceEvent {
            connection.session.close(reason: "the control plane is shutting down")
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.channelEnded()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.session.logger.info("Payload channel failed", metadata: ["error": "\(error)"])
        connection.channelEnded()
        context.close(promise: nil)
    }
}
