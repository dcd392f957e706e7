/// Exponential backoff with jitter, for calls retried until they succeed: each delay is the last times
/// `factor`, capped at `maximum`, spread by ±`jitter` so that many retrying tasks do not fire together.
public struct Backoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    public let factor: Double
    public let jitter: Double
    private var current: Duration

    public init(initial: Duration, maximum: Duration, factor: Double = 2, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.current = initial
    }

    /// The delay before the next attempt.
    public mutating func next() -> Duration {
        let base = current
        current = min(maximum, base * factor)
        let spread = 1 + Double.random(in: -jitter...jitter)
        return base * spread
    }

    public mutating func reset() { current = initial }
}
