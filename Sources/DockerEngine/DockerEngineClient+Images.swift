import AsyncHTTPClient
import Foundation
import Metrics
import NIOCore
import NIOHTTP1
import Synchronization

extension DockerEngineClient {
    /// Pulls an image (`POST /images/create`), reporting each progress message as it arrives.
    ///
    /// The tag is always sent (`latest` when the reference has none): without one dockerd pulls every tag.
    /// The pull fails with ``DockerError/Code/timeout`` when dockerd sends nothing for `inactivityTimeout`
    /// (``DockerTimeouts/pullInactivity`` by default), whether waiting for the first byte (a registry that
    /// hangs on the manifest) or between messages (a stalled download); dockerd abandons the pull when the
    /// connection closes. Refused credentials are ``DockerError/Code/unauthorized``; an unknown image or tag
    /// is ``DockerError/Code/notFound``.
    ///
    /// Metrics: `berth_image_pull_duration_seconds{result}` (`ok` or the error code) and
    /// `berth_image_pull_bytes_total`, the layers downloaded.
    public func pullImage(
        _ image: String,
        auth: RegistryAuth? = nil,
        inactivityTimeout: Duration? = nil,
        progress: @escaping @Sendable (PullProgress) -> Void = { _ in }
    ) async throws(DockerError) -> PullResult {
        let started = ContinuousClock.now
        do {
            let result = try await pullImageUnmeasured(
                image,
                auth: auth,
                inactivityTimeout: inactivityTimeout,
                progress: progress
            )
            Timer(label: "berth_image_pull_duration_seconds", dimensions: [("result", "ok")])
                .recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
            Counter(label: "berth_image_pull_bytes_total").increment(by: result.downloadedBytes)
            return result
        } catch {
            Timer(label: "berth_image_pull_duration_seconds", dimensions: [("result", "\(error.code)")])
                .recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
            throw error
        }
    }

    private func pullImageUnmeasured(
        _ image: String,
        auth: RegistryAuth?,
        inactivityTimeout: Duration?,
        progress: @escaping @Sendable (PullProgress) -> Void
    ) async throws(DockerError) -> PullResult {
        guard let reference = ImageReference(image) else {
            throw DockerError(.badRequest, "pull image: '\(image)' is not an image reference")
        }
        let operation = "pull image \(reference)"
        var request = Request(
            method: .POST,
            path: "/images/create",
            query: [("fromImage", reference.repository), ("tag", reference.digest ?? reference.tag ?? "latest")],
            operation: operation
        )
        if let auth { request.headers.add(name: "X-Registry-Auth", value: auth.headerValue) }
        let httpRequest = try await makeHTTPRequest(request)
        let inactivity = inactivityTimeout ?? timeouts.pullInactivity
        let lastActivity = ActivityClock()

        do {
            return try await withThrowingTaskGroup(of: PullResult.self) { group in
                group.addTask {
                    // The watchdog bounds the wait for the head too: no deadline of its own.
                    let body = try await self.openStream(httpRequest, operation: operation, deadline: .distantFuture)
                    lastActivity.touch()
                    var splitter = JSONLineSplitter()
                    var summary = PullSummary(reference: reference)
                    for try await chunk in body {
                        lastActivity.touch()
                        for line in splitter.append(chunk) {
                            try summary.record(line, operation: operation, progress: progress)
                        }
                    }
                    if let line = splitter.finish() {
                        try summary.record(line, operation: operation, progress: progress)
                    }
                    return summary.result
                }
                group.addTask {
                    // Never returns: throws once the stream has been quiet for too long, or when cancelled.
                    while true {
                        let quiet = lastActivity.elapsed()
                        if quiet >= inactivity {
                            throw DockerError(
                                .timeout,
                                "\(operation): no progress for \(inactivity.readable); cancelled"
                            )
                        }
                        try await Task.sleep(for: inactivity - quiet)
                    }
                }
                defer { group.cancelAll() }
                guard let result = try await group.next() else {
                    throw DockerError(.apiError, "\(operation): ended without a result")
                }
                return result
            }
        } catch {
            throw failure(error, operation: operation)
        }
    }

    /// Inspects an image by name, `name:tag`, `name@digest` or ID.
    public func inspectImage(_ name: String) async throws(DockerError) -> ImageInspect {
        let request = Request(
            method: .GET,
            path: "/images/\(name.pathSegment)/json",
            operation: "inspect image \(name)"
        )
        return try await perform(request, timeout: timeouts.inspect).decode(
            ImageInspect.self,
            operation: request.operation
        )
    }

    /// Lists images (top-level only unless `all`).
    public func listImages(all: Bool = false, filters: DockerFilters = [:]) async throws(DockerError) -> [ImageSummary]
    {
        var query: [(name: String, value: String)] = [("all", all ? "1" : "0")]
        if !filters.isEmpty { query.append(("filters", filters.queryValue)) }
        let request = Request(method: .GET, path: "/images/json", query: query, operation: "list images")
        return try await perform(request, timeout: timeouts.list).decode(
            [ImageSummary].self,
            operation: request.operation
        )
    }

    /// Removes an image or one of its tags. An image a container uses is a ``DockerError/Code/conflict``
    /// unless `force`.
    @discardableResult
    public func removeImage(
        _ name: String,
        force: Bool = false,
        prune: Bool = true
    ) async throws(DockerError)
        -> [ImageDeleteResponseItem]
    {
        let request = Request(
            method: .DELETE,
            path: "/images/\(name.pathSegment)",
            query: [("force", force ? "1" : "0"), ("noprune", prune ? "0" : "1")],
            operation: "remove image \(name)"
        )
        return try await perform(request, timeout: timeouts.removeImage)
            .decode([ImageDeleteResponseItem].self, operation: request.operation)
    }

    /// Tags an image as `repository:tag`.
    public func tagImage(_ name: String, repository: String, tag: String) async throws(DockerError) {
        let request = Request(
            method: .POST,
            path: "/images/\(name.pathSegment)/tag",
            query: [("repo", repository), ("tag", tag)],
            operation: "tag image \(name) as \(repository):\(tag)"
        )
        try await perform(request, timeout: timeouts.tagImage)
    }
}

/// When a stream last showed signs of life; shared by the reader and the watchdog of a pull.
final class ActivityClock: Sendable {
    private let last = Mutex(ContinuousClock.now)

    func touch() { last.withLock { $0 = .now } }

    func elapsed() -> Duration { ContinuousClock.now - last.withLock { $0 } }
}

/// What a pull's progress stream has said so far.
struct PullSummary {
    let reference: ImageReference
    private var digest: String?
    private var finalStatus: String?
    /// The size of each layer being downloaded, by layer ID.
    private var layerSizes: [String: Int64] = [:]

    init(reference: ImageReference) {
        self.reference = reference
    }

    mutating func record(
        _ line: [UInt8],
        operation: String,
        progress: @Sendable (PullProgress) -> Void
    ) throws(DockerError) {
        let message: PullProgress
        do {
            message = try JSONDecoder().decode(PullProgress.self, from: Data(line))
        } catch {
            throw DockerError(.invalidResponse, "\(operation): unreadable progress message (\(error))")
        }
        if let failure = message.errorMessage {
            let code: DockerError.Code =
                DockerEngineClient.isRegistryAuthenticationFailure(failure)
                ? .unauthorized : failure.contains("not found") ? .notFound : .apiError
            throw DockerError(code, "\(operation): \(failure)")
        }
        if let found = message.digest { digest = found }
        if let status = message.status {
            if status.hasPrefix("Status: ") { finalStatus = status }
            if status == "Downloading", let id = message.id, let total = message.total, total > 0 {
                layerSizes[id] = total
            }
        }
        progress(message)
    }

    var result: PullResult {
        PullResult(
            reference: reference,
            digest: digest,
            finalStatus: finalStatus,
            downloadedBytes: layerSizes.values.reduce(0, +)
        )
    }
}
