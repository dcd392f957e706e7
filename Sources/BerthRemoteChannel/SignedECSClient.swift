import AsyncHTTPClient
import BerthAgentChannel
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import NIOSSL
public import SigV4

/// Calls of the ECS JSON 1.1 API, SigV4-signed, as the ECS agent makes them: `POST /` with
/// `X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>`. Failures are ``ControlPlaneError``s: an
/// unreachable or failing control plane is `unavailable` (try again), a refusal says which it is.
///
/// It owns an HTTP client: call ``shutdown()`` when done.
public final class SignedECSClient: Sendable {
    /// The control plane's API, `https://host:port` (a path is ignored).
    public let baseURL: URL
    let signer: SigV4Signer
    let httpClient: HTTPClient
    let logger: Logger
    /// How long one call may take, connecting included.
    let callTimeout: Duration

    static let targetPrefix = "AmazonEC2ContainerServiceV20141113"
    /// The largest answer read; ECS answers to an agent are a few KiB.
    static let maximumResponseBytes = 4 * 1024 * 1024

    public init(
        baseURL: URL,
        signer: SigV4Signer,
        tls: TLSConfiguration?,
        callTimeout: Duration = .seconds(30),
        connectionsPerHost: Int = 16,
        logger: Logger
    ) {
        self.baseURL = baseURL
        self.signer = signer
        self.logger = logger
        self.callTimeout = callTimeout
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(10))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(120),
            concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost
        )
        httpClient = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: configuration,
            backgroundActivityLogger: logger
        )
    }

    public func shutdown() async throws {
        try await httpClient.shutdown()
    }

    /// `host` or `host:port` as the request carries it in its Host header, which the signature covers.
    var hostHeader: String {
        let host = baseURL.host ?? "localhost"
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return baseURL.port.map { "\(bracketed):\($0)" } ?? bracketed
    }

    /// One call; the answer's body.
    func call(_ operation: String, _ input: some Encodable) async throws(ControlPlaneError) -> Data {
        let body: Data
        do {
            body = try Self.encoder.encode(input)
        } catch {
            throw ControlPlaneError(.invalidRequest, "\(operation): cannot encode the request: \(error)")
        }
        var headers: [(name: String, value: String)] = [
            (name: "host", value: hostHeader),
            (name: "content-type", value: "application/x-amz-json-1.1"),
            (name: "x-amz-target", value: "\(Self.targetPrefix).\(operation)"),
        ]
        headers += signer.sign(method: "POST", path: "/", query: "", headers: headers, body: body)
        // ECS's API is `POST /` (the signature covers that path): a path in ECS_BACKEND_HOST is not used.
        var request = HTTPClientRequest(url: "\(baseURL.scheme ?? "https")://\(hostHeader)/")
        request.method = .POST
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let status: UInt
        let answer: ByteBuffer
        do {
            let response = try await httpClient.execute(request, timeout: .init(callTimeout))
            status = response.status.code
            answer = try await response.body.collect(upTo: Self.maximumResponseBytes)
        } catch {
            throw ControlPlaneError(
                .unavailable,
                "\(operation): the control plane at \(baseURL) did not answer: \(error)"
            )
        }
        let data = Data(answer.readableBytesView)
        guard (200..<300).contains(status) else {
            throw Self.error(operation: operation, status: status, body: data)
        }
        return data
    }

    func call<Output: Decodable>(
        _ operation: String,
        _ input: some Encodable,
        answer: Output.Type
    ) async throws(ControlPlaneError) -> Output {
        let data = try await call(operation, input)
        do {
            return try JSONDecoder().decode(Output.self, from: data)
        } catch {
            throw ControlPlaneError(
                .unavailable,
                "\(operation): the control plane's answer is not understood: \(error)"
            )
        }
    }

    /// An ECS error answer (`{"__type": "…Exception", "message": "…"}`) as the channel's error.
    static func error(operation: String, status: UInt, body: Data) -> ControlPlaneError {
        struct ErrorAnswer: Decodable {
            var type: String?
            var message: String?
            var capitalMessage: String?
            enum CodingKeys: String, CodingKey {
                case type = "__type"
                case message
                case capitalMessage = "Message"
            }
        }
        let parsed = try? JSONDecoder().decode(ErrorAnswer.self, from: body)
        // AWS writes the type as `namespace#Name` at times.
        let type = parsed?.type.map { String($0.split(separator: "#").last ?? "") } ?? ""
        let message =
            "\(operation): \(type.isEmpty ? "HTTP \(status)" : type): "
            + (parsed?.message ?? parsed?.capitalMessage ?? String(decoding: body.prefix(512), as: UTF8.self))
        return ControlPlaneError(code(type: type, status: status), message)
    }

    static func code(type: String, status: UInt) -> ControlPlaneError.Code {
        switch type {
        case "ThrottlingException": return .throttled
        case "ClusterNotFoundException": return .clusterNotFound
        case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
            "MissingAuthenticationTokenException":
            return .accessDenied
        case "InactiveInstanceException", "InvalidInstanceException": return .instanceInactive
        case "InvalidClusterException": return .clusterNotFound
        case "ServerException": return .unavailable
        default:
            if status == 429 { return .throttled }
            return status >= 500 || type.isEmpty ? .unavailable : .invalidRequest
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return encoder
    }()
}
