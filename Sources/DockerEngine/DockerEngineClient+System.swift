import NIOCore
import NIOHTTP1

extension DockerEngineClient {
    /// Checks that dockerd answers (`GET /_ping`).
    public func ping() async throws(DockerError) {
        let request = Request(method: .GET, path: "/_ping", versioned: false, operation: "ping dockerd")
        let response = try await perform(request, timeout: timeouts.system)
        guard String(buffer: response.body) == "OK" else {
            throw DockerError(.invalidResponse, "ping dockerd: answered '\(String(buffer: response.body))'")
        }
    }

    /// The daemon's version and API range (`GET /version`, unversioned so it works before negotiation).
    public func version() async throws(DockerError) -> SystemVersion {
        let request = Request(method: .GET, path: "/version", versioned: false, operation: "get dockerd version")
        return try await perform(request, timeout: timeouts.system).decode(
            SystemVersion.self,
            operation: request.operation
        )
    }

    /// The daemon and its host (`GET /info`).
    public func info() async throws(DockerError) -> SystemInfo {
        let request = Request(method: .GET, path: "/info", operation: "get dockerd info")
        return try await perform(request, timeout: timeouts.system).decode(
            SystemInfo.self,
            operation: request.operation
        )
    }
}
