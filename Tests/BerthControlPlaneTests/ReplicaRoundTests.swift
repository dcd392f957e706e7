import BerthAgentChannel
import BerthModel
import BerthTestSupport
import Testing

@testable import BerthControlPlane

/// A replica's rounds of duties (``ControlPlane/maintainReplica()``): what a failed write left undone is
/// made good by the next round, and rounds with nothing changed write nothing and pass over no instance.
@Suite("Control plane: a replica's rounds")
struct ReplicaRoundTests {
    @Test("an agent's connection whose write failed is stored by the next round; idle rounds write nothing")
    func failedWriteMadeGood() async throws {
        let store = ControlledStore()
        let clock = RetentionTests.Clock()
        let settings = ControlPlane.Settings(
            region: "us-east-1",
            account: "123456789012",
            sharing: ControlPlane.Sharing(endpoint: nil),
            now: { clock.now }
        )
        let plane = try await ControlPlane(store: store, settings: settings, logger: silentLogger)
        // Another replica on the same store shows what the store says.
        let observer = try await ControlPlane(store: store.base, settings: settings, logger: silentLogger)
        await plane.maintainReplica()
        _ = try await plane.createCluster(name: nil)
        let arn = try await plane.registerContainerInstance(registration()).containerInstanceArn
        func stored() async throws -> ContainerInstance {
            try await observer.followChanges()
            return try await observer.describeInstances([arn], cluster: nil).instances[0].instance
        }

        await store.fail(true)
        try await plane.agentConnected(instanceArn: arn, session: RecordingSession())
        await store.fail(false)
        #expect(try await stored().agentReplica == nil)
        // (After a failure the control plane refuses writes for a moment: rounds go on until one lands.)
        let replicaID = await plane.settings.sharing?.replicaID
        try await waitUntil("a round stores that this replica holds the agent") {
            await plane.maintainReplica()
            return try await stored().agentReplica == replicaID
        }
        #expect(await plane.heldAgentsRecordedFor != nil)

        // Nothing changes: once settled, the rounds neither write nor pass over the instances.
        await plane.maintainReplica()
        let commits = await store.commits
        let seen = await plane.connectivityRefreshedFor?.instances
        for _ in 0..<3 { await plane.maintainReplica() }
        #expect(await store.commits == commits)
        #expect(await plane.connectivityRefreshedFor?.instances == seen)

        // The agent leaves while the store fails: the next round after it is back stores that too.
        await store.fail(true)
        let session = RecordingSession()
        try await plane.agentConnected(instanceArn: arn, session: session)
        await plane.agentDisconnected(instanceArn: arn, session: session)
        await store.fail(false)
        #expect(try await stored().agentReplica == replicaID)
        try await waitUntil("a round stores that this replica no longer holds the agent") {
            await plane.maintainReplica()
            return try await stored().agentReplica == nil
        }
    }
}
