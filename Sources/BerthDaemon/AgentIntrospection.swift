import BerthAPI
import BerthAgent
import BerthAgentChannel
import Synchronization

/// The introspection API's view of the agent: its cluster from the configuration, its instance ARN and
/// engine once registered.
final class AgentIntrospection: IntrospectionSource {
    private let clusterName: String
    private let ready = Mutex<Agent.Ready?>(nil)

    init(cluster: String) {
        self.clusterName = cluster
    }

    func agentReady(_ agent: Agent.Ready) { ready.withLock { $0 = agent } }

    func cluster() async -> String { clusterName }

    func containerInstanceArn() async -> String? { ready.withLock { $0?.instance.containerInstanceArn } }

    func tasks() async -> [TaskRecord] {
        guard let engine = ready.withLock({ $0?.engine }) else { return [] }
        return await engine.taskRecords
    }
}
