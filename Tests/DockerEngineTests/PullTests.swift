import BerthTestSupport
import DockerEngine
import Foundation
import PropertyBased
import Synchronization
import Testing

@Suite("Image pulls")
struct PullTests {
    static let progressLines = [
        #"{"status":"Pulling from berth/busybox","id":"latest"}"#,
        #"{"status":"Pulling fs layer","progressDetail":{},"id":"a1b2"}"#,
        #"{"status":"Downloading","progressDetail":{"current":512,"total":1048576},"progress":"[>   ]","id":"a1b2"}"#,
        #"{"status":"Downloading","progressDetail":{"current":1048576,"total":1048576},"id":"a1b2"}"#,
        #"{"status":"Pull complete","progressDetail":{},"id":"a1b2"}"#,
        #"{"status":"Digest: sha256:ad250e701ab202a16dca57dfaddeed9a8ce084323c8c7694dec1a94eed412ead"}"#,
        #"{"status":"Status: Downloaded newer image for 127.0.0.1:51670/berth/busybox:latest"}"#,
    ]
    static let progressStream = progressLines.joined(separator: "\r\n") + "\r\n"

    @Test("progress arrives in order whatever the chunk boundaries")
    func chunkBoundaries() async throws {
        await propertyCheck(count: 25, input: Gen.int(in: 1...97)) { chunkSize in
            do {
                let dockerd = StubbedDocker { _ in
                    .stream(
                        status: 200,
                        steps: StubHTTPServer.StreamStep.chunks(of: Self.progressStream, size: chunkSize)
                    )
                }
                try await dockerd.run { client, _ in
                    let seen = Mutex<[String]>([])
                    let result = try await client.pullImage("127.0.0.1:51670/berth/busybox") { message in
                        seen.withLock { $0.append(message.status ?? "") }
                    }
                    #expect(seen.withLock { $0 }.count == Self.progressLines.count)
                    #expect(
                        seen.withLock { $0 }.last
                            == "Status: Downloaded newer image for 127.0.0.1:51670/berth/busybox:latest"
                    )
                    #expect(result.digest == "sha256:ad250e701ab202a16dca57dfaddeed9a8ce084323c8c7694dec1a94eed412ead")
                    #expect(result.finalStatus?.hasPrefix("Status: Downloaded newer image") == true)
                    #expect(result.downloadedBytes == 1_048_576)
                }
            } catch {
                Issue.record("pull failed with chunks of \(chunkSize) bytes: \(error)")
            }
        }
    }

    @Test("the tag is always sent, and credentials go in X-Registry-Auth as URL-safe base64 JSON")
    func requestShape() async throws {
        let dockerd = StubbedDocker { _ in .stream(status: 200, steps: [.text(Self.progressStream)]) }
        try await dockerd.run { client, server in
            let auth = RegistryAuth(username: "berth", password: "s3cret/+?", serverAddress: "127.0.0.1:51671")
            _ = try await client.pullImage("127.0.0.1:51671/berth/busybox", auth: auth)
            _ = try await client.pullImage("busybox:1.36")
            _ = try await client.pullImage(
                "busybox@sha256:ad250e701ab202a16dca57dfaddeed9a8ce084323c8c7694dec1a94eed412ead"
            )

            let pulls = server.apiRequests
            #expect(pulls[0].path == "/v1.41/images/create")
            #expect(pulls[0].query == ["fromImage": "127.0.0.1:51671/berth/busybox", "tag": "latest"])
            #expect(pulls[1].query == ["fromImage": "busybox", "tag": "1.36"])
            #expect(pulls[2].query["tag"] == "sha256:ad250e701ab202a16dca57dfaddeed9a8ce084323c8c7694dec1a94eed412ead")
            #expect(pulls[1].header("X-Registry-Auth") == nil)

            let header = try #require(pulls[0].header("X-Registry-Auth"))
            #expect(!header.contains("+") && !header.contains("/"))
            var standard = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while standard.count % 4 != 0 { standard += "=" }
            let decoded = try jsonObject(try #require(Data(base64Encoded: standard)))
            #expect(decoded["username"] as? String == "berth")
            #expect(decoded["password"] as? String == "s3cret/+?")
            #expect(decoded["serveraddress"] as? String == "127.0.0.1:51671")
            #expect(!"\(auth)".contains("s3cret"), "credentials never show in descriptions")
        }
    }

    @Test("an error in the middle of the stream fails the pull with the daemon's words")
    func errorInStream() async throws {
        let failing =
            Self.progressLines[0...2].joined(separator: "\r\n") + "\r\n"
            + #"{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}"# + "\r\n"
        let dockerd = StubbedDocker { _ in .stream(status: 200, steps: [.text(failing)]) }
        try await dockerd.run { client, _ in
            let error = await #expect(throws: DockerError.self) { try await client.pullImage("busybox") }
            #expect(error?.code == .apiError)
            #expect(error?.message == "pull image busybox:latest: unexpected EOF")
        }
    }

    @Test("refused credentials and unknown images are told apart")
    func failuresBeforeTheStream() async throws {
        let dockerd = StubbedDocker { request in
            request.query["fromImage"] == "secret/app"
                ? .dockerError(500, "unauthorized: authentication required")
                : .dockerError(404, "manifest for nope:latest not found: manifest unknown")
        }
        try await dockerd.run { client, _ in
            let refused = await #expect(throws: DockerError.self) { try await client.pullImage("secret/app") }
            #expect(refused?.code == .unauthorized)
            #expect(refused?.message == "pull image secret/app:latest: unauthorized: authentication required")
            let missing = await #expect(throws: DockerError.self) { try await client.pullImage("nope") }
            #expect(missing?.code == .notFound)
        }
    }

    @Test("a stream that goes quiet is cancelled after the inactivity timeout")
    func inactivityAfterProgress() async throws {
        let dockerd = StubbedDocker { _ in
            .stream(
                status: 200,
                steps: [
                    .text(Self.progressLines[0] + "\r\n"), .pause(.milliseconds(100)),
                    .text(Self.progressLines[1] + "\r\n"), .hang,
                ]
            )
        }
        try await dockerd.run { client, _ in
            let seen = Mutex(0)
            let started = ContinuousClock.now
            let error = await #expect(throws: DockerError.self) {
                // Long enough that a loaded machine still delivers both messages within it (CI has 2 cores
                // and runs every suite at once).
                try await client.pullImage("busybox", inactivityTimeout: .seconds(3)) { _ in
                    seen.withLock { $0 += 1 }
                }
            }
            let elapsed = ContinuousClock.now - started
            #expect(error?.code == .timeout)
            #expect(error?.message == "pull image busybox:latest: no progress for 3s; cancelled")
            #expect(seen.withLock { $0 } == 2)
            // Progress reset the clock: the failure comes a full timeout after the last message.
            #expect(elapsed >= .milliseconds(3100))
        }
    }

    @Test("steady progress slower than the timeout overall does not trip it")
    func slowButSteady() async throws {
        // The download lines nine more times: 34 messages, about 3.4 s in all, 100 ms apart, so the 3 s timeout
        // is exceeded overall but never between two messages, even on a loaded machine.
        let lines =
            Array(Self.progressLines.prefix(5)) + Array(Array(Self.progressLines[2...4]).repeated(9))
            + Array(Self.progressLines.suffix(2))
        let steps = lines.flatMap {
            [StubHTTPServer.StreamStep.text($0 + "\r\n"), .pause(.milliseconds(100))]
        }
        let dockerd = StubbedDocker { _ in .stream(status: 200, steps: steps) }
        try await dockerd.run { client, _ in
            let result = try await client.pullImage("busybox", inactivityTimeout: .seconds(3))
            #expect(result.digest != nil)
        }
    }

    @Test("a registry that never answers times out before any progress")
    func inactivityBeforeHead() async throws {
        let dockerd = StubbedDocker { _ in .hang }
        try await dockerd.run { client, _ in
            let error = await #expect(throws: DockerError.self) {
                try await client.pullImage("busybox", inactivityTimeout: .milliseconds(300))
            }
            #expect(error?.code == .timeout)
        }
    }

    @Test("a reference that is not one is refused before calling dockerd")
    func badReference() async throws {
        let dockerd = StubbedDocker()
        try await dockerd.run { client, server in
            let error = await #expect(throws: DockerError.self) { try await client.pullImage("has space:1") }
            #expect(error?.code == .badRequest)
            #expect(server.apiRequests.isEmpty)
        }
    }
}

extension Array {
    func repeated(_ times: Int) -> [Element] { (0..<times).flatMap { _ in self } }
}
