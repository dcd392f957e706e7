import BerthTestSupport
import DockerEngine
import Foundation
import Logging

/// A stub dockerd: `/version` answers like Docker 20.10 (API 1.41, minimum 1.12) unless `version` says
/// otherwise; every other request goes to `handler`.
struct StubbedDocker {
    static let docker20 = StubHTTPServer.Response.json(
        200,
        #"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#
    )

    let version: StubHTTPServer.Response
    let timeouts: DockerTimeouts
    let handler: StubHTTPServer.Handler

    init(
        version: StubHTTPServer.Response = docker20,
        timeouts: DockerTimeouts = .generous,
        handler: @escaping StubHTTPServer.Handler = { _ in .empty(404) }
    ) {
        self.version = version
        self.timeouts = timeouts
        self.handler = handler
    }

    /// Runs `body` with a client of this stub; server and client are closed afterwards.
    func run<Result: Sendable>(
        _ body: (DockerEngineClient, StubHTTPServer) async throws -> Result
    ) async throws -> Result {
        let version = self.version
        let handler = self.handler
        let routes: StubHTTPServer.Handler = { request in
            request.path == "/version" ? version : await handler(request)
        }
        return try await StubHTTPServer.withServer(handler: routes) { server in
            guard let path = server.socketPath else { preconditionFailure("a Unix socket server has a path") }
            return try await DockerEngineClient.withClient(
                endpoint: .unixSocket(path: path),
                timeouts: timeouts,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            ) { client in
                try await body(client, server)
            }
        }
    }
}

extension StubbedDocker {
    /// How long a test waits for a condition the stub brings about (a request received, an event
    /// delivered): as long as ``DockerTimeouts/generous``, for the same loaded machine.
    static let conditionWait: Duration = .seconds(60)
}

extension DockerTimeouts {
    /// Bounds that never fire in a test that is not about them, even on a loaded 2-core CI machine, where
    /// every suite starts at once with agents, aws CLI runs and key generation beside it, and a stub's answer
    /// has been seen to take over 5 s; a test of a timeout sets its own, short one.
    static var generous: DockerTimeouts {
        var timeouts = DockerTimeouts()
        timeouts.system = .seconds(60)
        timeouts.inspect = .seconds(60)
        timeouts.pullInactivity = .seconds(60)
        return timeouts
    }
}

/// The requests the stub received, without the version negotiation.
extension StubHTTPServer {
    var apiRequests: [Request] { requests.filter { $0.path != "/version" } }
}

/// Decodes a request body as a JSON object.
func jsonObject(_ data: Data) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw DockerError(.invalidResponse, "not a JSON object")
    }
    return object
}
