public import Foundation

/// The Docker Engine calls the agent makes, as a protocol so that the task engine can be tested against an
/// in-memory daemon. ``DockerEngineClient`` is the real one.
public protocol DockerClient: Sendable {
    func ping() async throws(DockerError)
    func version() async throws(DockerError) -> SystemVersion
    func info() async throws(DockerError) -> SystemInfo

    func pullImage(
        _ image: String,
        auth: RegistryAuth?,
        inactivityTimeout: Duration?,
        progress: @escaping @Sendable (PullProgress) -> Void
    ) async throws(DockerError) -> PullResult
    func inspectImage(_ name: String) async throws(DockerError) -> ImageInspect
    @discardableResult
    func removeImage(_ name: String, force: Bool, prune: Bool) async throws(DockerError) -> [ImageDeleteResponseItem]

    func createContainer(
        name: String,
        _ body: ContainerCreateRequest
    ) async throws(DockerError)
        -> ContainerCreateResponse
    @discardableResult
    func startContainer(_ id: String) async throws(DockerError) -> Bool
    @discardableResult
    func stopContainer(_ id: String, gracePeriod: Duration) async throws(DockerError) -> Bool
    func inspectContainer(_ id: String) async throws(DockerError) -> ContainerInspect
    func removeContainer(_ id: String, removeVolumes: Bool, force: Bool) async throws(DockerError)
    func listContainers(all: Bool, filters: DockerFilters) async throws(DockerError) -> [ContainerSummary]
    /// One sample of a container's resource use, as dockerd's JSON.
    func containerStats(_ id: String) async throws(DockerError) -> Data

    func inspectNetwork(_ name: String) async throws(DockerError) -> NetworkInspect

    func createVolume(_ body: VolumeCreateRequest) async throws(DockerError) -> Volume
    func inspectVolume(_ name: String) async throws(DockerError) -> Volume
    func removeVolume(_ name: String, force: Bool) async throws(DockerError)

    /// Docker's event stream from `since` on, filtered; it fails with ``DockerError`` when the connection breaks.
    func containerEvents(since: DockerEventTime?, filters: DockerFilters) -> any AsyncSequence<DockerEvent, DockerError>
}

extension DockerEngineClient: DockerClient {
    public func containerEvents(
        since: DockerEventTime?,
        filters: DockerFilters
    ) -> any AsyncSequence<DockerEvent, DockerError> {
        events(since: since, filters: filters)
    }
}
