import NIOHTTP1

/// `GET /volumes` answers with the volumes under `Volumes`.
private struct VolumeList: Decodable {
    let volumes: [Volume]?

    enum CodingKeys: String, CodingKey {
        case volumes = "Volumes"
    }
}

extension DockerEngineClient {
    /// Creates a volume; creating one that exists with the same driver returns it.
    public func createVolume(_ body: VolumeCreateRequest) async throws(DockerError) -> Volume {
        let operation = "create volume \(body.name)"
        let request = Request(
            method: .POST,
            path: "/volumes/create",
            body: try encode(body, operation: operation),
            operation: operation
        )
        return try await perform(request, timeout: timeouts.volume).decode(Volume.self, operation: operation)
    }

    public func inspectVolume(_ name: String) async throws(DockerError) -> Volume {
        let request = Request(method: .GET, path: "/volumes/\(name.pathSegment)", operation: "inspect volume \(name)")
        return try await perform(request, timeout: timeouts.volume).decode(Volume.self, operation: request.operation)
    }

    /// Removes a volume. One in use by a container is a ``DockerError/Code/conflict``.
    public func removeVolume(_ name: String, force: Bool = false) async throws(DockerError) {
        let request = Request(
            method: .DELETE,
            path: "/volumes/\(name.pathSegment)",
            query: [("force", force ? "1" : "0")],
            operation: "remove volume \(name)"
        )
        try await perform(request, timeout: timeouts.volume)
    }

    /// Lists volumes, filtered (`label`, `name`, `dangling`, `driver`).
    public func listVolumes(filters: DockerFilters = [:]) async throws(DockerError) -> [Volume] {
        var query: [(name: String, value: String)] = []
        if !filters.isEmpty { query.append(("filters", filters.queryValue)) }
        let request = Request(method: .GET, path: "/volumes", query: query, operation: "list volumes")
        return try await perform(request, timeout: timeouts.volume).decode(
            VolumeList.self,
            operation: request.operation
        )
        .volumes ?? []
    }
}
