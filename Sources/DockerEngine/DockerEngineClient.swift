import AsyncHTTPClient
import Foundation
public import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A client of the Docker Engine API over dockerd's Unix socket (or plain TCP).
///
/// It negotiates the API version on first use (the newest both sides speak, 1.24 at least) and bounds
/// every call by a deadline from ``DockerTimeouts``; a pull fails when its progress stream goes quiet for
/// too long. Failures are ``DockerError``s. The client knows nothing about ECS.
///
/// It owns an HTTP client: call ``shutdown()`` when done, or use ``withClient(endpoint:timeouts:logger:_:)``.
public final class DockerEngineClient: Sendable {
    public let endpoint: DockerEndpoint
    public let timeouts: DockerTimeouts
    let httpClient: HTTPClient
    let logger: Logger
    private let negotiatedVersion = Mutex<DockerAPIVersion?>(nil)

    /// The largest non-streaming answer accepted (an image list on a busy host is a few MiB).
    static let maximumResponseBytes = 64 * 1024 * 1024

    public init(endpoint: DockerEndpoint = .defaultSocket, timeouts: DockerTimeouts = DockerTimeouts(), logger: Logger)
    {
        self.endpoint = endpoint
        self.timeouts = timeouts
        self.logger = logger
        var configuration = HTTPClient.Configuration()
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5))
        // Event streams and long pulls each hold a connection; keep room for ordinary calls beside them.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        // A local socket that refuses a connection will not accept one a moment later: report "unreachable"
        // at once instead of retrying until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        self.httpClient = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: configuration,
            backgroundActivityLogger: logger
        )
    }

    /// Closes connections. Calls in flight fail.
    public func shutdown() async throws {
        try await httpClient.shutdown()
    }

    /// Runs `body` with a client that is shut down afterwards, however `body` ends.
    public static func withClient<Result: Sendable>(
        endpoint: DockerEndpoint = .defaultSocket,
        timeouts: DockerTimeouts = DockerTimeouts(),
        logger: Logger,
        _ body: (DockerEngineClient) async throws -> Result
    ) async throws -> Result {
        let client = DockerEngineClient(endpoint: endpoint, timeouts: timeouts, logger: logger)
        let result: Swift.Result<Result, any Error>
        do {
            result = .success(try await body(client))
        } catch {
            result = .failure(error)
        }
        try await client.shutdown()
        return try result.get()
    }

    // MARK: Version negotiation

    /// The API version requests use, negotiated with the daemon on first use and again after the daemon
    /// was unreachable (it may have been upgraded meanwhile).
    public func apiVersion() async throws(DockerError) -> DockerAPIVersion {
        if let version = negotiatedVersion.withLock({ $0 }) { return version }
        let daemon = try await version()
        guard let daemonMaximum = DockerAPIVersion(daemon.apiVersion) else {
            throw DockerError(.invalidResponse, "dockerd reported API version '\(daemon.apiVersion)'")
        }
        let daemonMinimum = daemon.minAPIVersion.flatMap(DockerAPIVersion.init)
        guard let chosen = DockerAPIVersion.negotiate(daemonMinimum: daemonMinimum, daemonMaximum: daemonMaximum) else {
            throw DockerError(
                .unsupportedVersion,
                "dockerd \(daemon.version) speaks API \(daemonMinimum.map { "\($0)" } ?? "?")–\(daemonMaximum); "
                    + "Berth needs \(DockerAPIVersion.minimumSupported) to \(DockerAPIVersion.newestSupported)"
            )
        }
        negotiatedVersion.withLock { $0 = chosen }
        logger.info(
            "Negotiated Docker API version",
            metadata: ["docker.api": "\(chosen)", "docker.version": "\(daemon.version)", "docker.host": "\(endpoint)"]
        )
        return chosen
    }

    // MARK: Requests

    /// One call to the Engine API.
    struct Request: Sendable {
        var method: HTTPMethod
        /// The path without the version prefix, such as `/containers/create`.
        var path: String
        var query: [(name: String, value: String)] = []
        var headers: HTTPHeaders = [:]
        var body: Data?
        /// Whether the path is prefixed with the negotiated `/vX.Y` (not for `/_ping` and `/version`).
        var versioned = true
        /// What the call does, for messages: `create container web`.
        var operation: String
    }

    /// A complete answer.
    struct Response: Sendable {
        let status: Int
        let body: ByteBuffer

        func decode<Value: Decodable>(_ type: Value.Type, operation: String) throws(DockerError) -> Value {
            do {
                return try JSONDecoder().decode(type, from: Data(body.readableBytesView))
            } catch {
                throw DockerError(.invalidResponse, "\(operation): unexpected answer from dockerd (\(error))")
            }
        }
    }

    func makeHTTPRequest(_ request: Request) async throws(DockerError) -> HTTPClientRequest {
        var url = endpoint.baseURL
        if request.versioned {
            url += "/v\(try await apiVersion())"
        }
        url += request.path
        if !request.query.isEmpty {
            let query = request.query.map { "\($0.name)=\($0.value.percentEncodingAllButUnreserved())" }
            url += "?" + query.joined(separator: "&")
        }
        var httpRequest = HTTPClientRequest(url: url)
        httpRequest.method = request.method
        httpRequest.headers = request.headers
        httpRequest.headers.replaceOrAdd(name: "Host", value: endpoint.hostHeader)
        httpRequest.headers.replaceOrAdd(name: "User-Agent", value: "Berth")
        if let body = request.body {
            httpRequest.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            httpRequest.body = .bytes(ByteBuffer(bytes: body))
        }
        return httpRequest
    }

    /// Sends a request, reads the whole answer within `timeout`, and throws unless the status is 2xx or
    /// one of `expected`.
    @discardableResult
    func perform(_ request: Request, timeout: Duration, expected: Set<Int> = []) async throws(DockerError) -> Response {
        let call = Self.callName(request)
        let started = ContinuousClock.now
        do {
            let response = try await performUnmeasured(request, timeout: timeout, expected: expected)
            Timer(label: "berth_docker_call_duration_seconds", dimensions: [("call", call)])
                .recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
            return response
        } catch {
            Counter(label: "berth_docker_call_errors_total", dimensions: [("call", call), ("code", "\(error.code)")])
                .increment()
            throw error
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 { duration.wholeNanoseconds }

    /// A call's name for metrics, without the IDs and names in its path: `POST containers/{id}/start`.
    static func callName(_ request: Request) -> String {
        let parts = request.path.split(separator: "/")
        let template: String
        switch parts.count {
        case 0: template = "/"
        case 1: template = String(parts[0])
        case 2 where ["create", "json", "prune"].contains(parts[1]): template = "\(parts[0])/\(parts[1])"
        case 2: template = "\(parts[0])/{id}"
        default: template = "\(parts[0])/{id}/\(parts[parts.count - 1])"
        }
        return "\(request.method.rawValue) \(template)"
    }

    private func performUnmeasured(
        _ request: Request,
        timeout: Duration,
        expected: Set<Int>
    ) async throws(DockerError) -> Response {
        let httpRequest = try await makeHTTPRequest(request)
        let httpClient = self.httpClient
        let logger = self.logger
        let response: Response
        do {
            // withDeadline bounds head and body alike; AHC's own deadline would only bound the head.
            response = try await withDeadline(timeout, operation: request.operation) {
                let answer = try await httpClient.execute(httpRequest, deadline: .distantFuture, logger: logger)
                let body = try await answer.body.collect(upTo: Self.maximumResponseBytes)
                return Response(status: Int(answer.status.code), body: body)
            }
        } catch {
            throw failure(error, operation: request.operation)
        }
        if (200..<300).contains(response.status) || expected.contains(response.status) { return response }
        throw Self.error(status: response.status, body: response.body, operation: request.operation)
    }

    /// Sends a request whose answer is a stream (pull progress, events) and returns the body to iterate,
    /// once dockerd has answered 200; otherwise throws the daemon's error. `deadline` bounds the wait for
    /// the answer's head only.
    func openStream(
        _ httpRequest: HTTPClientRequest,
        operation: String,
        deadline: NIODeadline
    ) async throws
        -> HTTPClientResponse.Body
    {
        let response = try await httpClient.execute(httpRequest, deadline: deadline, logger: logger)
        guard response.status == .ok else {
            let body = try await response.body.collect(upTo: Self.maximumResponseBytes)
            throw Self.error(status: Int(response.status.code), body: body, operation: operation)
        }
        return response.body
    }

    /// Turns an error answer into a ``DockerError`` carrying the daemon's message.
    static func error(status: Int, body: ByteBuffer, operation: String) -> DockerError {
        struct ErrorBody: Decodable { let message: String }
        let text = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
        let daemonMessage =
            (try? JSONDecoder().decode(ErrorBody.self, from: Data(body.readableBytesView)))?.message ?? text
        let message = "\(operation): \(daemonMessage.isEmpty ? "HTTP \(status)" : daemonMessage)"
        let code: DockerError.Code =
            switch status {
            case 400: .badRequest
            case 401, 403: .unauthorized
            case 404: .notFound
            case 409: .conflict
            default: isRegistryAuthenticationFailure(daemonMessage) ? .unauthorized : .apiError
            }
        return DockerError(code, message, status: status)
    }

    /// dockerd 20.10 reports refused registry credentials as HTTP 500 with the registry's words.
    static func isRegistryAuthenticationFailure(_ message: String) -> Bool {
        let lowered = message.lowercased()
        return lowered.contains("unauthorized") || lowered.contains("no basic auth credentials")
            || lowered.contains("authentication required") || lowered.contains("access denied")
    }

    /// Maps any error from the transport to a ``DockerError``; forgets the negotiated version when the
    /// daemon is gone, so that a restarted (perhaps upgraded) daemon is asked again.
    func failure(_ error: any Error, operation: String) -> DockerError {
        let mapped = Self.map(error, operation: operation, endpoint: endpoint)
        if mapped.code == .daemonUnreachable {
            negotiatedVersion.withLock { $0 = nil }
        }
        return mapped
    }

    static func map(_ error: any Error, operation: String, endpoint: DockerEndpoint) -> DockerError {
        switch error {
        case let error as DockerError:
            return error
        case is CancellationError:
            return DockerError(.cancelled, "\(operation): cancelled")
        case let error as HTTPClientError:
            switch error {
            case .cancelled:
                return DockerError(.cancelled, "\(operation): cancelled")
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return DockerError(.timeout, "\(operation): dockerd did not answer in time")
            case .connectTimeout, .remoteConnectionClosed, .getConnectionFromPoolTimeout, .alreadyShutdown:
                return unreachable(operation, endpoint, "\(error)")
            default:
                return DockerError(.apiError, "\(operation): \(error)")
            }
        case let error as HTTPParserError:
            // The peer hanging up mid-answer surfaces as a parse error at end of stream.
            if error == .invalidEOFState { return unreachable(operation, endpoint, "the connection closed mid-answer") }
            return DockerError(.invalidResponse, "\(operation): malformed HTTP from dockerd (\(error))")
        case let error as IOError:
            return unreachable(operation, endpoint, String(cString: strerror(error.errnoCode)))
        case is ChannelError, is NIOConnectionError:
            return unreachable(operation, endpoint, "\(error)")
        default:
            return DockerError(.apiError, "\(operation): \(error)")
        }
    }

    private static func unreachable(_ operation: String, _ endpoint: DockerEndpoint, _ reason: String) -> DockerError {
        DockerError(.daemonUnreachable, "\(operation): cannot reach dockerd at \(endpoint): \(reason)")
    }
}

/// Runs `body`, failing with a timeout if it has not finished after `timeout`. The body is cancelled then.
func withDeadline<Value: Sendable>(
    _ timeout: Duration,
    operation: String,
    _ body: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw DockerError(.timeout, "\(operation): no answer after \(timeout.readable)")
        }
        return value
    }
}

extension Duration {
    var timeAmount: TimeAmount { .nanoseconds(wholeNanoseconds) }

    /// `30s`, `2m`, `1.5s`: for messages.
    var readable: String {
        let seconds = Double(wholeNanoseconds) / 1e9
        if seconds >= 60 && seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60))m" }
        if seconds == seconds.rounded() { return "\(Int(seconds))s" }
        return "\(seconds)s"
    }
}
