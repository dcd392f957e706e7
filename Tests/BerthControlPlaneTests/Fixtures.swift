import BerthAgentChannel
import BerthControlPlane
import BerthModel
import Foundation
import Logging
import Synchronization

let silentLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

func makeControlPlane(store: any ClusterStore = InMemoryClusterStore()) async throws -> ControlPlane {
    try await ControlPlane(
        store: store,
        settings: ControlPlane.Settings(region: "us-east-1", account: "123456789012"),
        logger: silentLogger
    )
}

/// An instance registration with `cpu` units, `memory` MiB and the agent's usual reserved ports.
func registration(
    cluster: String = "default",
    cpu: Int = 2048,
    memory: Int = 4096,
    document: String? = nil
)
    -> InstanceRegistration
{
    InstanceRegistration(
        cluster: cluster,
        totalResources: [
            .integer("CPU", cpu), .integer("MEMORY", memory),
            .stringSet("PORTS", ["22", "2375", "2376", "51678", "51679"]), .stringSet("PORTS_UDP", []),
        ],
        attributes: [],
        versionInfo: VersionInfo(agentVersion: "test"),
        instanceIdentityDocument: document
    )
}

func container(_ name: String, memory: Int = 128, cpu: Int? = nil, ports: [PortMapping] = []) -> ContainerDefinition {
    var definition = ContainerDefinition(name: name, image: "busybox")
    definition.memory = memory
    definition.cpu = cpu
    definition.portMappings = ports.isEmpty ? nil : ports
    return definition
}

/// An agent session that records what it is sent.
final class RecordingSession: AgentSession {
    private let received = Mutex<[PayloadMessage]>([])
    private let closing = Mutex<String?>(nil)

    var messages: [PayloadMessage] { received.withLock { $0 } }
    /// Why the control plane closed it, once it has.
    var closedBecause: String? { closing.withLock { $0 } }

    func deliver(_ message: PayloadMessage) async -> Bool {
        guard closedBecause == nil else { return false }
        received.withLock { $0.append(message) }
        return true
    }

    func close(reason: String) { closing.withLock { $0 = $0 ?? reason } }
}
