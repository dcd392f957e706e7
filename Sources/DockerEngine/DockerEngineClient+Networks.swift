public import Foundation
import NIOCore
import NIOHTTP1

extension DockerEngineClient {
    /// Inspects a network by ID or name (`bridge`).
    public func inspectNetwork(_ name: String) async throws(DockerError) -> NetworkInspect {
        let request = Request(method: .GET, path: "/networks/\(name.pathSegment)", operation: "inspect network \(name)")
        return try await perform(request, timeout: timeouts.inspect).decode(
            NetworkInspect.self,
            operation: request.operation
        )
    }

    /// One sample of a container's resource use, as dockerd writes it (`GET /containers/{id}/stats`,
    /// not streamed): dockerd waits for a second reading so that the previous CPU figures (`precpu_stats`)
    /// are filled, about a second. Kept as JSON: it is passed on to task metadata readers as is.
    public func containerStats(_ id: String) async throws(DockerError) -> Data {
        let request = Request(
            method: .GET,
            path: "/containers/\(id.pathSegment)/stats",
            query: [("stream", "0")],
            operation: "stats of container \(id)"
        )
        return Data(try await perform(request, timeout: timeouts.inspect).body.readableBytesView)
    }
}
