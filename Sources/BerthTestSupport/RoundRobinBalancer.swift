import NIOCore
import NIOPosix
import Synchronization

/// A TCP load balancer in front of replicas, as an operator puts one: each connection it accepts goes to
/// the next backend in turn, its bytes copied both ways unchanged (signatures name the balancer's host,
/// which is what the backend receives). Each `aws` command is a connection of its own, so commands
/// alternate between the backends.
public final class RoundRobinBalancer: Sendable {
    /// A backend's address.
    public struct Backend: Sendable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    public let port: Int
    private let backends: [Backend]
    private let chosen = Mutex<[Int]>([])

    private init(port: Int, backends: [Backend]) {
        self.port = port
        self.backends = backends
    }

    /// The backend index each connection went to, in order.
    public var connections: [Int] { chosen.withLock { $0 } }

    /// The balancer's URL, for `--endpoint-url`.
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Runs `body` while a balancer on a loopback port spreads connections over `backends`; the balancer
    /// and its connections are closed after.
    public static func withBalancer<Result: Sendable>(
        over backends: [Backend],
        _ body: (RoundRobinBalancer) async throws -> Result
    ) async throws -> Result {
        precondition(!backends.isEmpty, "a balancer needs a backend")
        typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>
        let serverChannel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture { try Connection(wrappingChannelSynchronously: channel) }
            }
        let balancer = RoundRobinBalancer(port: serverChannel.channel.localAddress?.port ?? 0, backends: backends)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            let backend = balancer.chosen.withLock { chosen in
                                let index = chosen.count % backends.count
                                chosen.append(index)
                                return backends[index]
                            }
                            connections.addTask { await Self.relay(connection, to: backend) }
                        }
                    }
                }
                return nil
            }
            defer { group.cancelAll() }
            return try await body(balancer)
        }
    }

    /// Copies bytes both ways until either side closes; then both are closed. A backend that cannot be
    /// reached closes the client's connection, as a balancer with no health checks does.
    private static func relay(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, to backend: Backend) async {
        typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>
        try? await client.executeThenClose { clientInbound, clientOutbound in
            let upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: backend.host, port: backend.port) { channel in
                    channel.eventLoop.makeCompletedFuture { try Connection(wrappingChannelSynchronously: channel) }
                }
            try await upstream.executeThenClose { upstreamInbound, upstreamOutbound in
                try await withThrowingTaskGroup(of: Void.self) { copies in
                    copies.addTask {
                        for try await bytes in clientInbound { try await upstreamOutbound.write(bytes) }
                    }
                    copies.addTask {
                        for try await bytes in upstreamInbound { try await clientOutbound.write(bytes) }
                    }
                    // One direction ended: the exchange is over.
                    _ = try await copies.next()
                    copies.cancelAll()
                }
            }
        }
    }
}
