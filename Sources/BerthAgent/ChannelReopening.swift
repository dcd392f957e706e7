/// When the agent opens its payload channel again after it ended: the ECS agent's rules.
///
/// - A channel that had been open a while (`channelSteadyAfter`) resets the backoff; closed on purpose
///   (recycled, or replaced by the control plane), it is reopened at once.
/// - Anything else waits for the next backoff delay (250 ms growing ×1.5 to 2 min), so that a channel
///   that keeps failing, or keeps being closed as soon as it opens, cannot spin.
/// - A control plane that no longer knows the instance is asked again after `inactiveInstanceRetry`.
struct ChannelReopening: Sendable {
    enum Ending: Sendable, Hashable {
        /// The stream finished without an error: either side closed the channel on purpose.
        case closedOnPurpose
        /// The connection failed, was refused, was lost or went silent.
        case failed
        /// The control plane says the instance is deregistered or unknown.
        case instanceInactive
    }

    private var backoff: Backoff
    private let steadyAfter: Duration
    private let inactiveRetry: Duration

    init(timing: Agent.Timing) {
        backoff = timing.channelBackoff
        steadyAfter = timing.channelSteadyAfter
        inactiveRetry = timing.inactiveInstanceRetry
    }

    /// How long to wait before opening the channel again, after one that was open for `openFor` ended so.
    mutating func delay(after ending: Ending, openFor: Duration) -> Duration {
        let steady = openFor >= steadyAfter
        if steady { backoff.reset() }
        switch ending {
        case .instanceInactive:
            backoff.reset()
            return inactiveRetry
        case .closedOnPurpose where steady:
            return .zero
        case .closedOnPurpose, .failed:
            return backoff.next()
        }
    }
}
