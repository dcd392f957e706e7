import BerthTestSupport
import DockerEngine
import Foundation
import Logging
import Testing

@Suite("Errors")
struct ErrorMappingTests {
    @Test(
        "statuses become typed errors carrying the daemon's message",
        arguments: [
            (400, "invalid reference format", DockerError.Code.badRequest),
            (404, "No such container: web", .notFound),
            (409, "Conflict. The container name \"/web\" is already in use", .conflict),
            (500, "unauthorized: authentication required", .unauthorized),
            (500, "Head \"http://127.0.0.1:51671/v2/x/manifests/latest\": no basic auth credentials", .unauthorized),
            (500, "driver failed programming external connectivity", .apiError),
            (503, "", .apiError),
        ]
    )
    func statusMapping(status: Int, message: String, code: DockerError.Code) async throws {
        let dockerd = StubbedDocker { _ in .dockerError(status, message) }
        try await dockerd.run { client, _ in
            let error = await #expect(throws: DockerError.self) { try await client.inspectContainer("web") }
            #expect(error?.code == code)
            #expect(error?.status == status)
            #expect(error?.message.hasPrefix("inspect container web: ") == true)
            if !message.isEmpty { #expect(error?.message.hasSuffix(message) == true) }
        }
    }

    @Test("a body that is not JSON is quoted as it is")
    func plainTextError() async throws {
        let dockerd = StubbedDocker { _ in .text(500, "page not found\n") }
        try await dockerd.run { client, _ in
            let error = await #expect(throws: DockerError.self) { try await client.info() }
            #expect(error?.message == "get dockerd info: page not found")
        }
    }

    @Test("an answer that does not decode is an invalid response, not a crash")
    func undecodableAnswer() async throws {
        let dockerd = StubbedDocker { _ in .json(200, #"{"Id": 42}"#) }
        try await dockerd.run { client, _ in
            let error = await #expect(throws: DockerError.self) { try await client.inspectContainer("web") }
            #expect(error?.code == .invalidResponse)
        }
    }

    @Test("a socket nobody listens on is unreachable, reported at once")
    func missingSocket() async throws {
        let path = NSTemporaryDirectory() + "berth-absent-\(UUID().uuidString.prefix(8)).sock"
        try await DockerEngineClient.withClient(endpoint: .unixSocket(path: path), logger: .init(label: "test")) {
            client in
            let error = await #expect(throws: DockerError.self) { try await client.ping() }
            #expect(error?.code == .daemonUnreachable)
            #expect(error?.message.contains("cannot reach dockerd at unix://\(path)") == true)
            // The connect's own failure, not a connect timeout after retries: reported at once.
            #expect(error?.message.contains("No such file or directory") == true, "\(String(describing: error))")
        }
    }

    @Test("a connection closed mid-answer is unreachable, and the version is negotiated again after")
    func connectionClosedMidAnswer() async throws {
        let dockerd = StubbedDocker { request in
            request.path.hasSuffix("/info")
                ? .stream(status: 200, steps: [.text("{\"ID\":"), .close]) : .json(200, "[]")
        }
        try await dockerd.run { client, server in
            let error = await #expect(throws: DockerError.self) { try await client.info() }
            #expect(error?.code == .daemonUnreachable, "\(String(describing: error))")
            _ = try await client.listImages()
            #expect(server.requests.filter { $0.path == "/version" }.count == 2)
        }
    }

    @Test("a call that gets no answer fails with a timeout instead of hanging")
    func deadline() async throws {
        var timeouts = DockerTimeouts.generous
        timeouts.inspect = .milliseconds(300)
        let dockerd = StubbedDocker(timeouts: timeouts) { _ in .hang }
        try await dockerd.run { client, _ in
            let error = await #expect(throws: DockerError.self) { try await client.inspectContainer("web") }
            #expect(error?.code == .timeout)
        }
    }

    @Test("a body that stalls after the head also hits the deadline")
    func deadlineCoversBody() async throws {
        var timeouts = DockerTimeouts.generous
        timeouts.inspect = .milliseconds(300)
        let dockerd = StubbedDocker(timeouts: timeouts) { _ in
            .stream(status: 200, steps: [.text("{\"Id\":\"abc\","), .hang])
        }
        try await dockerd.run { client, _ in
            let error = await #expect(throws: DockerError.self) { try await client.inspectImage("busybox") }
            #expect(error?.code == .timeout)
        }
    }

    @Test("cancelling the caller cancels the call")
    func cancellation() async throws {
        let dockerd = StubbedDocker { _ in .hang }
        try await dockerd.run { client, server in
            let call = Task { try await client.inspectContainer("web") }
            // Cancelled once dockerd has the request, so that it is the call in flight that is cancelled.
            let deadline = ContinuousClock.now + StubbedDocker.conditionWait
            while server.apiRequests.isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(!server.apiRequests.isEmpty)
            call.cancel()
            let result = await call.result
            #expect(throws: DockerError.self) { try result.get() }
            #expect((try? result.get()) == nil)
            if case .failure(let error as DockerError) = result { #expect(error.code == .cancelled) }
        }
    }
}
