import BerthTestSupport
import DockerEngine
import Foundation
import Logging

/// Runs `body` with a client of the real dockerd.
func withDocker<Result: Sendable>(_ body: (DockerEngineClient) async throws -> Result) async throws -> Result {
    try await DockerEngineClient.withClient(
        endpoint: .unixSocket(path: TestEnvironment.dockerSocket),
        logger: Logger(label: "integration", factory: { _ in SwiftLogNoOpLogHandler() })
    ) { client in
        try await body(client)
    }
}

/// A short unique name for this test's Docker objects.
func uniqueName(_ prefix: String) -> String {
    "berth-it-\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}

extension DockerEngineClient {
    /// Polls until the container is no longer running, and returns its final state.
    func waitUntilExited(_ id: String, timeout: Duration = TestEnvironment.loadedWait) async throws -> ContainerState {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let state = try await inspectContainer(id).state
            if !state.running && state.status != "created" { return state }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DockerError(.timeout, "container \(id) still running after \(timeout)")
    }

    /// Removes containers, volumes and image tags a test made, whatever state they are in.
    func cleanUp(containers: [String] = [], volumes: [String] = [], images: [String] = []) async {
        for container in containers { try? await removeContainer(container, removeVolumes: true, force: true) }
        for volume in volumes { try? await removeVolume(volume, force: true) }
        for image in images { _ = try? await removeImage(image, force: true) }
    }
}

/// A temporary host directory for bind mounts, removed afterwards.
func withTemporaryDirectory<Result>(_ body: (URL) async throws -> Result) async throws -> Result {
    let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(uniqueName("dir"))
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}
