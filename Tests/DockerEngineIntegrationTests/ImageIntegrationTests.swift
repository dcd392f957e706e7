import BerthTestSupport
import DockerEngine
import Foundation
import Synchronization
import Testing

@Suite("dockerd: images and registries", .serialized)
struct ImageIntegrationTests {
    @Test("pull from the open registry, inspect, tag, list and remove")
    func openRegistry() async throws {
        try await withDocker { docker in
            let image = TestEnvironment.openRegistryImage
            let alias = uniqueName("tag")
            await docker.cleanUp(images: [image])
            do {
                let messages = Mutex<[String]>([])
                let result = try await docker.pullImage(image) { progress in
                    messages.withLock { $0.append(progress.status ?? "") }
                }
                #expect(result.reference.description == image)
                #expect(result.digest?.hasPrefix("sha256:") == true)
                #expect(result.finalStatus?.hasPrefix("Status: ") == true)
                #expect(messages.withLock { $0 }.contains { $0.hasPrefix("Pulling from berth/busybox") })

                let inspected = try await docker.inspectImage(image)
                #expect(inspected.repoTags.contains(image))
                #expect(inspected.os == "linux")

                try await docker.tagImage(image, repository: "berth-test/\(alias)", tag: "v1")
                let listed = try await docker.listImages(filters: ["reference": ["berth-test/\(alias):v1"]])
                #expect(listed.map(\.id) == [inspected.id])

                let removed = try await docker.removeImage("berth-test/\(alias):v1")
                #expect(removed.contains { $0.untagged == "berth-test/\(alias):v1" })
                let gone = await #expect(throws: DockerError.self) {
                    try await docker.inspectImage("berth-test/\(alias):v1")
                }
                #expect(gone?.code == .notFound)

                // Pulling what is already there succeeds and says so.
                let again = try await docker.pullImage(image)
                #expect(again.finalStatus?.contains("up to date") == true)
                #expect(again.downloadedBytes == 0)
            } catch {
                await docker.cleanUp(images: ["berth-test/\(alias):v1"])
                throw error
            }
        }
    }

    @Test("pull from the registry with basic auth: credentials work, none or wrong ones are refused clearly")
    func authRegistry() async throws {
        try await withDocker { docker in
            let image = TestEnvironment.authRegistryImage
            await docker.cleanUp(images: [image])

            let anonymous = await #expect(throws: DockerError.self) { try await docker.pullImage(image) }
            #expect(anonymous?.code == .unauthorized)
            #expect(anonymous?.message.hasPrefix("pull image \(image): ") == true)
            #expect(anonymous?.message.contains("no basic auth credentials") == true)

            var wrong = TestEnvironment.credentials
            wrong.password = "not-the-password"
            let refused = await #expect(throws: DockerError.self) { try await docker.pullImage(image, auth: wrong) }
            #expect(refused?.code == .unauthorized)
            #expect(refused?.message == "pull image \(image): unauthorized: authentication required")
            #expect(refused?.message.contains("not-the-password") == false)

            let result = try await docker.pullImage(image, auth: TestEnvironment.credentials)
            #expect(result.digest?.hasPrefix("sha256:") == true)
            let inspected = try await docker.inspectImage(image)
            #expect(inspected.repoTags.contains(image))
            await docker.cleanUp(images: [image])
        }
    }

    @Test("an image the registry does not have is not found")
    func missingImage() async throws {
        try await withDocker { docker in
            let error = await #expect(throws: DockerError.self) {
                try await docker.pullImage("\(TestEnvironment.openRegistry)/berth/\(uniqueName("absent")):latest")
            }
            #expect(error?.code == .notFound)
        }
    }

    @Test("a registry that stops answering: the pull ends with the inactivity timeout")
    func stalledRegistry() async throws {
        // A registry that answers the version check, then never answers for the manifest. dockerd itself
        // would wait; the client gives up after the inactivity timeout and closes the connection.
        let stalling: StubHTTPServer.Handler = { request in
            request.path == "/v2/" ? .json(200, "{}") : .hang
        }
        try await StubHTTPServer.withServer(.loopbackTCP, handler: stalling) { registry in
            let port = try #require(registry.port)
            try await withDocker { docker in
                let started = ContinuousClock.now
                let error = await #expect(throws: DockerError.self) {
                    try await docker.pullImage("127.0.0.1:\(port)/stalled/app:latest", inactivityTimeout: .seconds(2))
                }
                let elapsed = ContinuousClock.now - started
                #expect(error?.code == .timeout)
                #expect(
                    error?.message == "pull image 127.0.0.1:\(port)/stalled/app:latest: no progress for 2s; cancelled"
                )
                // Not before the timeout; how long after it is up to the machine's load (the message says which
                // timeout ended it).
                #expect(elapsed >= .seconds(2))
                #expect(registry.requests.contains { $0.path.hasSuffix("/manifests/latest") })
                // The daemon is fine afterwards.
                try await docker.ping()
            }
        }
    }
}
