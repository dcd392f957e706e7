import BerthAPI
import BerthAgent
import DockerEngine
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The task metadata endpoint as a service of `berth agent`: it waits for the agent to name the address
/// (Docker's bridge gateway, known once dockerd answers), then serves there until shutdown.
final class TaskMetadataServer: Service, TaskMetadataServing {
    let port: Int
    private let source: any TaskMetadataSource
    private let limiter: RequestRateLimiter
    private let logger: Logger
    private let hosts = AsyncStream.makeStream(of: String.self)
    private let outcomes = AsyncStream.makeStream(of: Result<Void, any Error>.self)

    init(port: Int, source: any TaskMetadataSource, limiter: RequestRateLimiter, logger: Logger) {
        self.port = port
        self.source = source
        self.limiter = limiter
        self.logger = logger
    }

    func listen(on host: String) async throws {
        hosts.continuation.yield(host)
        for await outcome in outcomes.stream { return try outcome.get() }
        throw CancellationError()
    }

    func run() async throws {
        defer { outcomes.continuation.finish() }
        let hosts = self.hosts.stream
        let host = await cancelWhenGracefulShutdown {
            var iterator = hosts.makeAsyncIterator()
            return await iterator.next()
        }
        guard let host else { return }
        let outcomes = self.outcomes.continuation
        let application = Application(
            router: TaskMetadataRouter.make(source: source, limiter: limiter),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { _ in outcomes.yield(.success(())) },
            logger: logger
        )
        do {
            // As a service of this one, not `runService()`: that would start a service group of its own that
            // catches SIGTERM itself and could end before the daemon's group begins its ordered shutdown, which
            // that group takes as a failure (exit 1).
            try await application.run()
        } catch {
            outcomes.yield(.failure(error))
            throw error
        }
    }
}

/// The agent's tasks (as introspection sees them) and Docker's view of their containers, for the task
/// metadata endpoint.
struct AgentTaskMetadata: TaskMetadataSource {
    let introspection: AgentIntrospection
    let docker: any DockerClient

    func task(ofContainerKey key: String) async -> (task: TaskRecord, container: String)? {
        guard !key.isEmpty else { return nil }
        for record in await introspection.tasks() {
            if let container = record.containers.first(where: { $0.metadataID == key }) {
                return (record, container.name)
            }
        }
        return nil
    }

    func inspect(_ dockerID: String) async -> ContainerInspect? {
        try? await docker.inspectContainer(dockerID)
    }

    func stats(_ dockerID: String) async -> Data? {
        try? await docker.containerStats(dockerID)
    }
}
