public import BerthModel

/// A control plane process sharing the store with others: written when it starts and then every
/// ``ControlPlane/Sharing/heartbeatInterval``; one not written for ``ControlPlane/Sharing/replicaTimeout``
/// is dead, and the agents it held count as away since its last heartbeat.
public struct ReplicaRecord: Sendable, Hashable, Codable {
    public var id: String
    public var startedAt: Timestamp
    public var heartbeatAt: Timestamp
    /// Where its agents' channel is (BERTH_ADVERTISE_URL), for DiscoverPollEndpoint to send agents to.
    public var endpoint: String?

    public init(id: String, startedAt: Timestamp, heartbeatAt: Timestamp, endpoint: String?) {
        self.id = id
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.endpoint = endpoint
    }
}

/// The right to run the loops that must run once (the service scheduler, record expiry, the lost-instance
/// check). Its holder renews it before `expiresAt`; once that has passed any replica may take it, with
/// the next epoch. Every write of those loops requires the lease at the version its holder last saw, so
/// a holder that lost it (paused, cut off) cannot write with it any more.
public struct LeaseRecord: Sendable, Hashable, Codable {
    public var name: String
    public var holder: String
    public var epoch: Int64
    public var expiresAt: Timestamp

    public init(name: String, holder: String, epoch: Int64, expiresAt: Timestamp) {
        self.name = name
        self.holder = holder
        self.epoch = epoch
        self.expiresAt = expiresAt
    }
}
