import DockerEngine
import Foundation
import Synchronization

/// The real dockerd, with some calls answered otherwise: to show the agent what dockerd does only under
/// load or in a narrow window, every time.
struct InterceptingDocker: DockerClient {
    let base: DockerEngineClient
    var inspect: (@Sendable (String) async throws(DockerError) -> ContainerInspect)?
    var create: (@Sendable (String, ContainerCreateRequest) async throws(DockerError) -> ContainerCreateResponse)?
    var events:
        (@Sendable (any AsyncSequence<DockerEvent, DockerError>) -> any AsyncSequence<DockerEvent, DockerError>)?

    func inspectContainer(_ id: String) async throws(DockerError) -> ContainerInspect {
        if let inspect { return try await inspect(id) }
        return try await base.inspectContainer(id)
    }

    func createContainer(
        name: String,
        _ body: ContainerCreateRequest
    ) async throws(DockerError)
        -> ContainerCreateResponse
    {
        if let create { return try await create(name, body) }
        return try await base.createContainer(name: name, body)
    }

    func containerEvents(since: DockerEventTime?, filters: DockerFilters) -> any AsyncSequence<DockerEvent, DockerError>
    {
        let stream = base.containerEvents(since: since, filters: filters)
        return events?(stream) ?? stream
    }

    /// dockerd 20.10 when containerd reports an out-of-memory kill after the exit (as it does under load):
    /// inspect says `OOMKilled: false`, and the `oom` event comes after the `die`.
    static func lateOutOfMemory(_ base: DockerEngineClient) -> InterceptingDocker {
        InterceptingDocker(
            base: base,
            inspect: { id throws(DockerError) in
                let inspect = try await base.inspectContainer(id)
                return inspect.state.oomKilled ? withoutOutOfMemory(inspect) : inspect
            },
            events: { OOMAfterDie(base: $0) }
        )
    }

    private static func withoutOutOfMemory(_ inspect: ContainerInspect) -> ContainerInspect {
        let hidden: [String: Any] = [
            "Id": inspect.id, "Name": inspect.name, "Image": inspect.image,
            "State": [
                "Status": inspect.state.status, "ExitCode": inspect.state.exitCode, "OOMKilled": false,
                "StartedAt": inspect.state.startedAt, "FinishedAt": inspect.state.finishedAt,
            ],
            "Config": ["Labels": inspect.configuration?.labels ?? [:]],
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: hidden),
            let decoded = try? JSONDecoder().decode(ContainerInspect.self, from: data)
        else { return inspect }
        return decoded
    }

    /// Holds each `oom` event back until the `die` of the same container has passed. An `oom` that dockerd
    /// itself sends after the `die` (as it does under load) passes at once: held, it would never be let go.
    struct OOMAfterDie: AsyncSequence {
        typealias Element = DockerEvent
        typealias Failure = DockerError
        let base: any AsyncSequence<DockerEvent, DockerError>

        func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator()) }

        struct Iterator: AsyncIteratorProtocol {
            var base: any AsyncIteratorProtocol<DockerEvent, DockerError>
            var held: [String: DockerEvent] = [:]
            var died: Set<String> = []
            var ready: [DockerEvent] = []

            mutating func next(isolation actor: isolated (any Actor)?) async throws(DockerError) -> DockerEvent? {
                while true {
                    if !ready.isEmpty { return ready.removeFirst() }
                    guard let event = try await base.next(isolation: actor) else { return nil }
                    if event.action == "oom", !died.contains(event.actorID) {
                        held[event.actorID] = event
                        continue
                    }
                    if event.action == "die" {
                        died.insert(event.actorID)
                        if let oom = held.removeValue(forKey: event.actorID) { ready.append(oom) }
                    }
                    return event
                }
            }

            mutating func next() async throws(DockerError) -> DockerEvent? { try await next(isolation: nil) }
        }
    }

    /// dockerd while a create made before (by an agent that then crashed, or whose call timed out) is still in
    /// flight: dockerd has reserved the name but not yet registered the container. The first create of each
    /// name is made, but its answer is lost (a timeout); the next `reservedLookups` inspects of that name
    /// find nothing, though another create under it is refused.
    static func createStillInFlight(_ base: DockerEngineClient, reservedLookups: Int) -> InterceptingDocker {
        let state = Mutex<(created: Set<String>, lookups: [String: Int])>(([], [:]))
        return InterceptingDocker(
            base: base,
            inspect: { id throws(DockerError) in
                let reserved = state.withLock { state -> Bool in
                    guard state.created.contains(id), state.lookups[id, default: 0] < reservedLookups else {
                        return false
                    }
                    state.lookups[id, default: 0] += 1
                    return true
                }
                if reserved { throw DockerError(.notFound, "No such container: \(id)", status: 404) }
                return try await base.inspectContainer(id)
            },
            create: { name, body throws(DockerError) in
                let first = state.withLock { $0.created.insert(name).inserted }
                let created = try await base.createContainer(name: name, body)
                if first { throw DockerError(.timeout, "the create timed out", status: nil) }
                return created
            }
        )
    }

    // Everything else as dockerd does it.

    func ping() async throws(DockerError) { try await base.ping() }
    func version() async throws(DockerError) -> SystemVersion { try await base.version() }
    func info() async throws(DockerError) -> SystemInfo { try await base.info() }
    func pullImage(
        _ image: String,
        auth: RegistryAuth?,
        inactivityTimeout: Duration?,
        progress: @escaping @Sendable (PullProgress) -> Void
    ) async throws(DockerError) -> PullResult {
        try await base.pullImage(image, auth: auth, inactivityTimeout: inactivityTimeout, progress: progress)
    }
    func inspectImage(_ name: String) async throws(DockerError) -> ImageInspect { try await base.inspectImage(name) }
    func removeImage(_ name: String, force: Bool, prune: Bool) async throws(DockerError) -> [ImageDeleteResponseItem] {
        try await base.removeImage(name, force: force, prune: prune)
    }
    func startContainer(_ id: String) async throws(DockerError) -> Bool { try await base.startContainer(id) }
    func stopContainer(_ id: String, gracePeriod: Duration) async throws(DockerError) -> Bool {
        try await base.stopContainer(id, gracePeriod: gracePeriod)
    }
    func removeContainer(_ id: String, removeVolumes: Bool, force: Bool) async throws(DockerError) {
        try await base.removeContainer(id, removeVolumes: removeVolumes, force: force)
    }
    func listContainers(all: Bool, filters: DockerFilters) async throws(DockerError) -> [ContainerSummary] {
        try await base.listContainers(all: all, filters: filters)
    }
    func containerStats(_ id: String) async throws(DockerError) -> Data { try await base.containerStats(id) }
    func inspectNetwork(_ name: String) async throws(DockerError) -> NetworkInspect {
        try await base.inspectNetwork(name)
    }
    func createVolume(_ body: VolumeCreateRequest) async throws(DockerError) -> Volume {
        try await base.createVolume(body)
    }
    func inspectVolume(_ name: String) async throws(DockerError) -> Volume { try await base.inspectVolume(name) }
    func removeVolume(_ name: String, force: Bool) async throws(DockerError) {
        try await base.removeVolume(name, force: force)
    }
}
