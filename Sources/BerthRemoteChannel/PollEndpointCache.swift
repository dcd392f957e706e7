import Foundation

/// Where the payload channel is, as DiscoverPollEndpoint last said, kept as the ECS agent keeps it: the
/// answer is used for `lifetime` (12 h) without asking again, and an expired answer is still used when
/// asking fails. An answer that a channel could not be opened to is dropped, so that an agent steered to a
/// control-plane replica that is gone asks again rather than trying it until the answer expires.
struct PollEndpointCache: Sendable {
    struct Entry: Sendable {
        var instanceArn: String
        var endpoint: URL
        var expires: ContinuousClock.Instant
    }

    let lifetime: Duration
    private(set) var entry: Entry?

    init(lifetime: Duration) {
        self.lifetime = lifetime
    }

    /// The answer to use without asking, when there is a current one for `instanceArn`.
    func current(for instanceArn: String, now: ContinuousClock.Instant) -> URL? {
        guard let entry, entry.instanceArn == instanceArn, now < entry.expires else { return nil }
        return entry.endpoint
    }

    /// The answer to use when asking failed: the last one for `instanceArn`, however old.
    func fallback(for instanceArn: String) -> URL? {
        guard let entry, entry.instanceArn == instanceArn else { return nil }
        return entry.endpoint
    }

    mutating func record(_ endpoint: URL, for instanceArn: String, now: ContinuousClock.Instant) {
        entry = Entry(instanceArn: instanceArn, endpoint: endpoint, expires: now + lifetime)
    }

    /// A channel could not be opened to `endpoint`: ask again next time.
    mutating func forget(_ endpoint: URL) {
        if entry?.endpoint == endpoint { entry = nil }
    }
}
