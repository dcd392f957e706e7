/// Whoever serves the task metadata endpoint (v4) to the agent's containers. The agent picks the address
/// once dockerd answers, Docker's bridge gateway, which bridge-mode and host-mode containers both reach,
/// and has it served there before it creates any container that is told of it.
public protocol TaskMetadataServing: Sendable {
    var port: Int { get }
    /// Starts serving on `host`:`port` and returns once it listens; throws when it cannot.
    func listen(on host: String) async throws
}
