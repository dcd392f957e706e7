import BerthTestSupport
import DockerEngine
import Testing

@Suite("API version negotiation")
struct VersionNegotiationTests {
    @Test("uses the newest version both sides speak")
    func newestCommonVersion() async throws {
        let newer = StubHTTPServer.Response.json(
            200,
            #"{"Version":"28.2.2","ApiVersion":"1.50","MinAPIVersion":"1.24"}"#
        )
        let newerDocker = StubbedDocker(version: newer) { _ in .json(200, "[]") }
        try await newerDocker.run { client, server in
            let version = try await client.apiVersion()
            #expect(version == DockerAPIVersion(major: 1, minor: 41))
            _ = try await client.listContainers()
            #expect(server.apiRequests.map(\.path) == ["/v1.41/containers/json"])
        }
        let older = StubHTTPServer.Response.json(
            200,
            #"{"Version":"18.09","ApiVersion":"1.39","MinAPIVersion":"1.12"}"#
        )
        let olderDocker = StubbedDocker(version: older)
        try await olderDocker.run { client, _ in
            let version = try await client.apiVersion()
            #expect(version == DockerAPIVersion(major: 1, minor: 39))
        }
    }

    @Test(
        "refuses a daemon older than 1.24 or newer-only than 1.41",
        arguments: [
            #"{"Version":"1.12","ApiVersion":"1.23","MinAPIVersion":"1.12"}"#,
            #"{"Version":"99.0","ApiVersion":"1.60","MinAPIVersion":"1.45"}"#,
        ]
    )
    func unsupportedDaemon(version: String) async throws {
        let dockerd = StubbedDocker(version: .json(200, version))
        try await dockerd.run { client, _ in
            let error = await #expect(throws: DockerError.self) { try await client.info() }
            #expect(error?.code == .unsupportedVersion)
            #expect(error?.message.contains("Berth needs 1.24 to 1.41") == true)
        }
    }

    @Test("negotiates once, then sends the Host header dockerd requires")
    func negotiatesOnceAndSendsHost() async throws {
        let dockerd = StubbedDocker { _ in .json(200, "[]") }
        try await dockerd.run { client, server in
            _ = try await client.listImages()
            _ = try await client.listImages()
            #expect(server.requests.filter { $0.path == "/version" }.count == 1)
            #expect(server.requests.allSatisfy { $0.header("Host") == "docker" })
        }
    }

    @Test("version arithmetic")
    func negotiateFunction() {
        let v = { (minor: Int) in DockerAPIVersion(major: 1, minor: minor) }
        #expect(DockerAPIVersion.negotiate(daemonMinimum: v(12), daemonMaximum: v(41)) == v(41))
        #expect(DockerAPIVersion.negotiate(daemonMinimum: nil, daemonMaximum: v(30)) == v(30))
        #expect(DockerAPIVersion.negotiate(daemonMinimum: v(24), daemonMaximum: v(47)) == v(41))
        #expect(DockerAPIVersion.negotiate(daemonMinimum: v(12), daemonMaximum: v(23)) == nil)
        #expect(DockerAPIVersion.negotiate(daemonMinimum: v(42), daemonMaximum: v(47)) == nil)
        #expect(DockerAPIVersion("1.41") == v(41))
        #expect(DockerAPIVersion("1") == nil)
        #expect(DockerAPIVersion("1.x") == nil)
    }
}
