import BerthTestSupport
import DockerEngine
import Testing

@Suite("dockerd: system calls")
struct SystemIntegrationTests {
    @Test("ping, version and info from the real daemon; the API is negotiated down to 1.41 at most")
    func system() async throws {
        try await withDocker { docker in
            try await docker.ping()
            let version = try await docker.version()
            #expect(!version.version.isEmpty)
            let api = try await docker.apiVersion()
            #expect(api >= DockerAPIVersion.minimumSupported && api <= DockerAPIVersion.newestSupported)
            let info = try await docker.info()
            #expect(info.cpuCount > 0)
            #expect(info.memoryTotal > 0)
            #expect(info.osType == "linux")
            #expect(info.plugins.log.contains("json-file"))
        }
    }
}
