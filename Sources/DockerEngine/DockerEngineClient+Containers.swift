import Foundation
import NIOHTTP1

extension DockerEngineClient {
    /// Creates a container named `name` (`POST /containers/create`).
    ///
    /// A name already in use is a ``DockerError/Code/conflict``; a missing image is ``DockerError/Code/notFound``.
    public func createContainer(
        name: String,
        _ body: ContainerCreateRequest
    ) async throws(DockerError)
        -> ContainerCreateResponse
    {
        let operation = "create container \(name)"
        let request = Request(
            method: .POST,
            path: "/containers/create",
            query: [("name", name)],
            body: try encode(body, operation: operation),
            operation: operation
        )
        return try await perform(request, timeout: timeouts.create).decode(
            ContainerCreateResponse.self,
            operation: operation
        )
    }

    /// Starts a container. Returns false when it was already running (dockerd's 304).
    @discardableResult
    public func startContainer(_ id: String) async throws(DockerError) -> Bool {
        let request = Request(
            method: .POST,
            path: "/containers/\(id.pathSegment)/start",
            operation: "start container \(id)"
        )
        return try await perform(request, timeout: timeouts.start, expected: [304]).status != 304
    }

    /// Stops a container: its stop signal (SIGTERM unless configured), then SIGKILL after `gracePeriod`.
    /// Returns false when it was not running (dockerd's 304).
    @discardableResult
    public func stopContainer(_ id: String, gracePeriod: Duration) async throws(DockerError) -> Bool {
        let seconds = max(0, Int((Double(gracePeriod.wholeNanoseconds) / 1e9).rounded(.up)))
        let request = Request(
            method: .POST,
            path: "/containers/\(id.pathSegment)/stop",
            query: [("t", "\(seconds)")],
            operation: "stop container \(id)"
        )
        let timeout = gracePeriod + timeouts.stopBeyondGracePeriod
        return try await perform(request, timeout: timeout, expected: [304]).status != 304
    }

    /// Sends a signal to a container's main process. A container that is not running is a
    /// ``DockerError/Code/conflict``.
    public func killContainer(_ id: String, signal: String = "SIGKILL") async throws(DockerError) {
        let request = Request(
            method: .POST,
            path: "/containers/\(id.pathSegment)/kill",
            query: [("signal", signal)],
            operation: "kill container \(id) with \(signal)"
        )
        try await perform(request, timeout: timeouts.kill)
    }

    /// Inspects a container by ID, short ID or name.
    public func inspectContainer(_ id: String) async throws(DockerError) -> ContainerInspect {
        let request = Request(
            method: .GET,
            path: "/containers/\(id.pathSegment)/json",
            operation: "inspect container \(id)"
        )
        return try await perform(request, timeout: timeouts.inspect).decode(
            ContainerInspect.self,
            operation: request.operation
        )
    }

    /// Removes a container, with its anonymous volumes unless told otherwise. A running container is a
    /// ``DockerError/Code/conflict`` unless `force`.
    public func removeContainer(_ id: String, removeVolumes: Bool = true, force: Bool = false) async throws(DockerError)
    {
        let request = Request(
            method: .DELETE,
            path: "/containers/\(id.pathSegment)",
            query: [("v", removeVolumes ? "1" : "0"), ("force", force ? "1" : "0")],
            operation: "remove container \(id)"
        )
        try await perform(request, timeout: timeouts.removeContainer)
    }

    /// Lists containers, stopped ones too unless `all` is false.
    public func listContainers(
        all: Bool = true,
        filters: DockerFilters = [:]
    ) async throws(DockerError)
        -> [ContainerSummary]
    {
        var query: [(name: String, value: String)] = [("all", all ? "1" : "0")]
        if !filters.isEmpty { query.append(("filters", filters.queryValue)) }
        let request = Request(method: .GET, path: "/containers/json", query: query, operation: "list containers")
        return try await perform(request, timeout: timeouts.list).decode(
            [ContainerSummary].self,
            operation: request.operation
        )
    }

    func encode(_ value: some Encodable, operation: String) throws(DockerError) -> Data {
        do {
            return try JSONEncoder().encode(value)
        } catch {
            throw DockerError(.badRequest, "\(operation): cannot encode the request (\(error))")
        }
    }
}

extension String {
    /// The string as one path segment, or several for image names (`registry:5000/team/app:tag`).
    var pathSegment: String {
        var encoded = ""
        for character in self.unicodeScalars {
            if character.isASCII,
                character.properties.isAlphabetic || ("0"..."9").contains(character)
                    || "-._~:@/".unicodeScalars.contains(character)
            {
                encoded.unicodeScalars.append(character)
            } else {
                encoded += String(character).percentEncodingAllButUnreserved()
            }
        }
        return encoded
    }
}
