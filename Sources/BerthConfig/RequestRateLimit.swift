import Foundation

/// A rate limit as ECS_TASK_METADATA_RPS_LIMIT writes it, "steady,burst": requests per second on average,
/// and how many may come at once after a quiet spell.
public struct RequestRateLimit: Sendable, Hashable, CustomStringConvertible {
    public var steady: Int
    public var burst: Int

    /// The ECS agent's default for the task metadata endpoint, per client.
    public static let taskMetadataDefault = RequestRateLimit(steady: 40, burst: 60)

    public init(steady: Int, burst: Int) {
        self.steady = steady
        self.burst = burst
    }

    public init(parsing text: String) throws(ConfigurationError) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard parts.count == 2, let steady = Int(parts[0]), let burst = Int(parts[1]) else {
            throw ConfigurationError(.invalidValue, "expected STEADY,BURST requests per second, such as 40,60")
        }
        guard steady >= 1, burst >= 1 else {
            throw ConfigurationError(.invalidValue, "the steady rate and the burst must both be at least 1")
        }
        self.init(steady: steady, burst: burst)
    }

    public var description: String { "\(steady),\(burst)" }
}
