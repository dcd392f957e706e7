public import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An HTTP/1.1 server for client tests, on a temporary Unix socket or a loopback port, answering every
/// request with what a handler scripts: whole bodies, chunked streams cut anywhere, pauses, connections
/// that hang or close mid-answer. It records the requests it received.
public final class StubHTTPServer: Sendable {
    /// Where the server listens.
    public enum Address: Sendable {
        /// A fresh socket file in the temporary directory.
        case temporaryUnixSocket
        /// 127.0.0.1 on a port the kernel picks.
        case loopbackTCP
    }

    /// A request as received.
    public struct Request: Sendable {
        public let method: String
        /// The path and query as sent.
        public let uri: String
        public let headers: [String: String]
        public let body: Data

        /// The path without the query.
        public var path: String { String(uri.prefix(while: { $0 != "?" })) }

        /// Query parameters, percent-decoded.
        public var query: [String: String] {
            guard let components = URLComponents(string: "http://stub\(uri)") else { return [:] }
            var result: [String: String] = [:]
            for item in components.queryItems ?? [] { result[item.name] = item.value ?? "" }
            return result
        }

        /// A header by case-insensitive name.
        public func header(_ name: String) -> String? {
            headers.first(where: { $0.key.lowercased() == name.lowercased() })?.value
        }
    }

    /// One step of a streamed (chunked) answer.
    public enum StreamStep: Sendable {
        /// Send these bytes as one chunk.
        case bytes(Data)
        /// Wait before the next step.
        case pause(Duration)
        /// Send nothing more and keep the connection open until the client goes away.
        case hang
        /// Close the connection without finishing the answer.
        case close
    }

    /// The answer to a request.
    public enum Response: Sendable {
        /// A whole answer with a content length.
        case full(status: Int, body: Data, contentType: String)
        /// A chunked answer played step by step; it ends properly after the last step.
        case stream(status: Int, steps: [StreamStep])
        /// Keep the connection open without answering until the client goes away.
        case hang

        /// A JSON answer.
        public static func json(_ status: Int = 200, _ text: String) -> Response {
            .full(status: status, body: Data(text.utf8), contentType: "application/json")
        }

        /// A plain-text answer.
        public static func text(_ status: Int = 200, _ text: String) -> Response {
            .full(status: status, body: Data(text.utf8), contentType: "text/plain")
        }

        /// An empty answer, such as dockerd's 204.
        public static func empty(_ status: Int) -> Response {
            .full(status: status, body: Data(), contentType: "text/plain")
        }

        /// dockerd's error shape, `{"message": "..."}`.
        public static func dockerError(_ status: Int, _ message: String) -> Response {
            let escaped = message.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(
                of: "\"",
                with: "\\\""
            )
            return .json(status, #"{"message":"\#(escaped)"}"#)
        }
    }

    public typealias Handler = @Sendable (Request) async -> Response

    /// The socket file, for a Unix socket server.
    public let socketPath: String?
    /// The port, for a TCP server.
    public let port: Int?
    private let handler: Handler
    private let received = Mutex<[Request]>([])

    private init(socketPath: String?, port: Int?, handler: @escaping Handler) {
        self.socketPath = socketPath
        self.port = port
        self.handler = handler
    }

    /// Every request received so far, in order.
    public var requests: [Request] { received.withLock { $0 } }

    /// Runs `body` while a server answers with `handler`; the server and its connections are closed after.
    public static func withServer<Result: Sendable>(
        _ address: Address = .temporaryUnixSocket,
        handler: @escaping Handler,
        _ body: (StubHTTPServer) async throws -> Result
    ) async throws -> Result {
        typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                return try Connection(wrappingChannelSynchronously: channel)
            }
        }
        let serverChannel: NIOAsyncChannel<Connection, Never>
        let server: StubHTTPServer
        switch address {
        case .temporaryUnixSocket:
            // Socket paths are limited to 107 bytes: keep the name short.
            let path = NSTemporaryDirectory() + "berth-stub-\(UUID().uuidString.prefix(8)).sock"
            serverChannel = try await bootstrap.bind(
                unixDomainSocketPath: path,
                cleanupExistingSocketFile: true,
                childChannelInitializer: initializer
            )
            server = StubHTTPServer(socketPath: path, port: nil, handler: handler)
        case .loopbackTCP:
            serverChannel = try await bootstrap.bind(host: "127.0.0.1", port: 0, childChannelInitializer: initializer)
            server = StubHTTPServer(socketPath: nil, port: serverChannel.channel.localAddress?.port, handler: handler)
        }
        defer {
            if let path = server.socketPath { try? FileManager.default.removeItem(atPath: path) }
        }

        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            connections.addTask { await server.serve(connection) }
                        }
                    }
                }
                return nil
            }
            defer { group.cancelAll() }
            return try await body(server)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = Data()
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body = Data()
                case .body(let buffer):
                    body.append(contentsOf: buffer.readableBytesView)
                case .end:
                    guard let requestHead = head else { continue }
                    let request = Request(
                        method: requestHead.method.rawValue,
                        uri: requestHead.uri,
                        headers: Dictionary(requestHead.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 }),
                        body: body
                    )
                    received.withLock { $0.append(request) }
                    let keepOpen = try await Self.write(await handler(request), to: outbound)
                    if !keepOpen || !requestHead.isKeepAlive { return }
                }
            }
        }
    }

    /// Writes an answer; returns false when the connection must close after it.
    private static func write(
        _ response: Response,
        to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    )
        async throws -> Bool
    {
        switch response {
        case .full(let status, let body, let contentType):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: "\(body.count)")
            try await outbound.write(
                .head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))
            )
            if !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
            return true
        case .stream(let status, let steps):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Transfer-Encoding", value: "chunked")
            try await outbound.write(
                .head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))
            )
            for step in steps {
                switch step {
                case .bytes(let data): try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: data))))
                case .pause(let duration): try await Task.sleep(for: duration)
                case .hang: try await hangUntilCancelled()
                case .close: return false
                }
            }
            try await outbound.write(.end(nil))
            return true
        case .hang:
            try await hangUntilCancelled()
            return false
        }
    }

    private static func hangUntilCancelled() async throws {
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}

extension StubHTTPServer.StreamStep {
    /// The text as one chunk.
    public static func text(_ text: String) -> Self { .bytes(Data(text.utf8)) }

    /// The text cut into chunks of `size` bytes, so that messages straddle chunk boundaries.
    public static func chunks(of text: String, size: Int) -> [Self] {
        let bytes = Array(text.utf8)
        return stride(from: 0, to: bytes.count, by: max(1, size)).map { start in
            .bytes(Data(bytes[start..<min(start + max(1, size), bytes.count)]))
        }
    }
}
