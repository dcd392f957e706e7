import Hummingbird
import NIOCore
import Synchronization

/// A token bucket per client: a client may make `burst` requests at once, and its bucket refills at `steady`
/// a second. Clients idle long enough to be full again are forgotten once more than `clientsKept` are known,
/// so a host with many short-lived containers does not grow the table without end.
public final class RequestRateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let steady: Int
    public let burst: Int
    private let clientsKept: Int
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let buckets = Mutex<[String: Bucket]>([:])

    /// `clock` tells the time for requests that do not give it (tests stop it).
    public init(
        steady: Int,
        burst: Int,
        clientsKept: Int = 4096,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        precondition(steady >= 1 && burst >= 1, "a rate limit of at least one request")
        self.steady = steady
        self.burst = burst
        self.clientsKept = clientsKept
        self.clock = clock
    }

    /// Whether `client` may make a request now.
    public func admit(_ client: String) -> Bool { admit(client, now: clock()) }

    /// Whether `client` may make a request at `now`; a request let through takes a token.
    public func admit(_ client: String, now: ContinuousClock.Instant) -> Bool {
        let steady = Double(self.steady)
        let burst = Double(self.burst)
        return buckets.withLock { buckets in
            var bucket = buckets[client] ?? Bucket(tokens: burst, updated: now)
            if now > bucket.updated {
                bucket.tokens = min(burst, bucket.tokens + Self.seconds(now - bucket.updated) * steady)
                bucket.updated = now
            }
            let admitted = bucket.tokens >= 1
            if admitted { bucket.tokens -= 1 }
            buckets[client] = bucket
            if buckets.count > clientsKept {
                let refill = Duration.seconds(Double(self.burst) / steady)
                buckets = buckets.filter { now - $0.value.updated < refill }
            }
            return admitted
        }
    }

    /// How many clients have a bucket now.
    public var clients: Int { buckets.withLock { $0.count } }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Answers 429 to a client past its rate, by the address the request came from.
struct RateLimitMiddleware<Context: RemoteAddressRequestContext>: RouterMiddleware {
    let limiter: RequestRateLimiter

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let client = context.remoteAddress?.ipAddress ?? "unknown"
        guard limiter.admit(client) else {
            return IntrospectionRouter.json(
                .tooManyRequests,
                "Too many requests from \(client): at most \(limiter.steady) a second, \(limiter.burst) at once"
            )
        }
        return try await next(request, context)
    }
}
