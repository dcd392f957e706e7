/// Where an agent's payload channel should open (DiscoverPollEndpoint), when replicas say where agents
/// reach them (BERTH_ADVERTISE_URL): on the live replica holding the fewest agents, so that channels
/// spread over the replicas and those of a dead replica spread over the rest. A pure decision.
public enum PollEndpointSteering {
    /// A live replica that says where it is, and how many agents' channels it holds.
    public struct Candidate: Sendable, Hashable {
        public var replicaID: String
        public var endpoint: String
        public var agents: Int

        public init(replicaID: String, endpoint: String, agents: Int) {
            self.replicaID = replicaID
            self.endpoint = endpoint
            self.agents = agents
        }
    }

    /// The endpoint for `instance`'s channel, nil when no replica says where it is. Among the replicas
    /// holding the fewest agents, the instance picks one by a hash of its ARN, the same on every replica:
    /// agents asking at the same moment see the same counts, and would otherwise all pick the same.
    public static func choose(for instance: String, among candidates: [Candidate]) -> String? {
        guard let fewest = candidates.map(\.agents).min() else { return nil }
        let least = candidates.filter { $0.agents == fewest }.sorted { $0.replicaID < $1.replicaID }
        return least[Int(stableHash(instance) % UInt64(least.count))].endpoint
    }

    /// FNV-1a: unlike `hashValue`, the same in every process.
    static func stableHash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3 }
    }
}
