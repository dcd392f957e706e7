import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

extension DockerEngineClient {
    /// Docker's event stream (`GET /events`), optionally from a past point and filtered.
    ///
    /// Nothing is requested until iteration starts. The stream has no natural end unless `until` is given:
    /// cancel the iterating task, or stop iterating, to close it. After a break (``DockerError/Code/daemonUnreachable``)
    /// open a new stream with `since` set to the last event's ``DockerEvent/time``: dockerd replays events
    /// from that instant on, so the last one seen comes again and the caller can skip it.
    public func events(
        since: DockerEventTime? = nil,
        until: DockerEventTime? = nil,
        filters: DockerFilters = [:]
    ) -> DockerEventStream {
        var query: [(name: String, value: String)] = []
        if let since { query.append(("since", since.description)) }
        if let until { query.append(("until", until.description)) }
        if !filters.isEmpty { query.append(("filters", filters.queryValue)) }
        return DockerEventStream(
            client: self,
            request: Request(method: .GET, path: "/events", query: query, operation: "follow docker events")
        )
    }
}

/// The messages of one `GET /events` request, as an asynchronous sequence that fails with ``DockerError``.
public struct DockerEventStream: AsyncSequence, Sendable {
    public typealias Element = DockerEvent
    public typealias Failure = DockerError

    let client: DockerEngineClient
    let request: DockerEngineClient.Request

    public func makeAsyncIterator() -> Iterator {
        Iterator(client: client, request: request)
    }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = DockerEvent
        public typealias Failure = DockerError

        private let client: DockerEngineClient
        private let request: DockerEngineClient.Request
        private var body: HTTPClientResponse.Body.AsyncIterator?
        private var splitter = JSONLineSplitter()
        private var ready: [DockerEvent] = []
        private var finished = false

        init(client: DockerEngineClient, request: DockerEngineClient.Request) {
            self.client = client
            self.request = request
        }

        public mutating func next() async throws(DockerError) -> DockerEvent? {
            while ready.isEmpty {
                if finished { return nil }
                let chunk: ByteBuffer?
                do {
                    if body == nil { body = try await open() }
                    chunk = try await body?.next()
                } catch {
                    finished = true
                    throw client.failure(error, operation: request.operation)
                }
                guard let chunk else {
                    finished = true
                    if let line = splitter.finish() { ready.append(try decode(line)) }
                    break
                }
                for line in splitter.append(chunk) { ready.append(try decode(line)) }
            }
            return ready.isEmpty ? nil : ready.removeFirst()
        }

        private func open() async throws -> HTTPClientResponse.Body.AsyncIterator {
            let httpRequest = try await client.makeHTTPRequest(request)
            // The deadline covers the answer's head only; the body is open-ended.
            let deadline = NIODeadline.now() + client.timeouts.system.timeAmount
            return try await client.openStream(httpRequest, operation: request.operation, deadline: deadline)
                .makeAsyncIterator()
        }

        private func decode(_ line: [UInt8]) throws(DockerError) -> DockerEvent {
            do {
                return try JSONDecoder().decode(DockerEvent.self, from: Data(line))
            } catch {
                throw DockerError(.invalidResponse, "\(request.operation): unreadable event (\(error))")
            }
        }
    }
}
