/// What keeps one payload channel alive, and the decision of what it is owed at a moment: a heartbeat
/// when nothing was sent for the heartbeat interval, a close when too many went unanswered or one could not
/// be written for a whole interval (the agent no longer reads), a manifest every manifest interval.
struct ChannelLiveness: Sendable, Hashable {
    /// When the last frame went to the agent.
    var lastSent: ContinuousClock.Instant
    /// Heartbeats sent since the agent last answered one.
    var unansweredHeartbeats = 0
    /// Since when a heartbeat is being written; nil when none is.
    var heartbeatWriteStartedAt: ContinuousClock.Instant?
    /// When the next periodic manifest is due.
    var nextManifest: ContinuousClock.Instant
    /// The first manifest goes out as the channel opens.
    var manifestInFlight = true

    init(openedAt: ContinuousClock.Instant, manifestInterval: Duration) {
        lastSent = openedAt
        nextManifest = openedAt + manifestInterval
    }

    /// What the channel is owed.
    struct Duties: Sendable, Hashable {
        var heartbeat = false
        var manifest = false
        /// Why the channel is to be closed; the other duties are then none.
        var close: String?
    }

    /// The duties at `now`, marked as under way: a heartbeat is counted unanswered and in flight, a
    /// manifest in flight, so that the next look does not send them again.
    mutating func take(at now: ContinuousClock.Instant, timing: AgentChannelEndpoint.Timing) -> Duties {
        var duties = Duties()
        if let started = heartbeatWriteStartedAt,
            now - started >= timing.heartbeatWriteLimit ?? timing.heartbeatInterval
        {
            duties.close = "the agent does not read its channel"
            return duties
        }
        if now - lastSent >= timing.heartbeatInterval, heartbeatWriteStartedAt == nil {
            if unansweredHeartbeats >= timing.missedHeartbeatsBeforeClose {
                duties.close = "heartbeats unanswered"
                return duties
            }
            unansweredHeartbeats += 1
            heartbeatWriteStartedAt = now
            duties.heartbeat = true
        }
        if !manifestInFlight, now >= nextManifest {
            manifestInFlight = true
            duties.manifest = true
        }
        return duties
    }
}
