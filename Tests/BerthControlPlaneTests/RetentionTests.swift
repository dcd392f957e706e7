import BerthAgentChannel
import BerthModel
import Foundation
import Synchronization
import Testing

@testable import BerthControlPlane

/// What the control plane keeps grows with what runs, not with every request: history is forgotten once
/// its retention has passed.
@Suite("Control plane: retention")
struct RetentionTests {
    /// A clock the test moves.
    final class Clock: Sendable {
        private let seconds = Mutex<Double>(1_800_000_000)
        var now: Timestamp { Timestamp(secondsSinceEpoch: seconds.withLock { $0 }) }
        func advance(minutes: Double) { seconds.withLock { $0 += minutes * 60 } }
    }

    @Test(
        "STOPPED tasks, deleted clusters, instances and services go after an hour; clientTokens after 12; unacknowledged payloads with their agent"
    )
    func retention() async throws {
        let clock = Clock()
        let plane = try await ControlPlane(
            store: InMemoryClusterStore(),
            settings: ControlPlane.Settings(region: "us-east-1", account: "123456789012", now: { clock.now }),
            logger: silentLogger
        )
        _ = try await plane.createCluster(name: nil)
        _ = try await plane.createCluster(name: "gone")
        _ = try await plane.deleteCluster("gone")
        let kept = try await plane.registerContainerInstance(registration())
        let session = RecordingSession()
        try await plane.agentConnected(instanceArn: kept.containerInstanceArn, session: session)
        let deregistered = try await plane.registerContainerInstance(registration())
        _ = try await plane.deregisterInstance(deregistered.containerInstanceArn, cluster: nil, force: true)
        _ = try await plane.registerTaskDefinition(
            TaskDefinitionRegistration(family: "web", containerDefinitions: [container("web")])
        )
        _ = try await plane.createService(ServiceRequest(serviceName: "old", taskDefinition: "web", desiredCount: 0))
        _ = try await plane.deleteService("old", cluster: nil, force: true)
        await plane.reconcileServices()
        let placed = try await plane.launch(TaskLaunch(taskDefinition: "web", clientToken: "token-1")).tasks
        let task = try #require(placed.first)
        #expect(await plane.inflight.count == 1, "the payload is not acknowledged")
        _ = try await plane.stopTask(task.taskArn, cluster: nil, reason: nil)
        try await plane.taskStateChanged(
            TaskStateChange(taskArn: task.taskArn, sequence: 1, status: .stopped, at: clock.now),
            instanceArn: kept.containerInstanceArn
        )

        clock.advance(minutes: 59)
        #expect(try await plane.expireRetainedRecords() == ControlPlane.Expired())
        #expect(try await plane.describeTasks([task.taskArn], cluster: nil).tasks.count == 1)
        #expect(try await plane.describeServices(["old"], cluster: nil).services.first?.status == .inactive)
        #expect(await plane.describeClusters(["gone"]).clusters.first?.cluster.status == .inactive)

        clock.advance(minutes: 2)
        let hour = try await plane.expireRetainedRecords()
        #expect(
            hour
                == ControlPlane.Expired(
                    stoppedTasks: 1,
                    clientTokens: 0,
                    inactiveClusters: 1,
                    inactiveInstances: 1,
                    inactiveServices: 1
                )
        )
        #expect(try await plane.describeTasks([task.taskArn], cluster: nil).failures.first?.reason == "MISSING")
        #expect(try await plane.describeServices(["old"], cluster: nil).failures.first?.reason == "MISSING")
        #expect(await plane.describeClusters(["gone"]).failures.first?.reason == "MISSING")
        #expect(await plane.inflight.isEmpty, "ten minutes unacknowledged")
        // The token still answers (with the tasks it placed that are still known): the same token with other
        // parameters is a conflict.
        let conflict = await #expect(throws: ClusterError.self) {
            try await plane.launch(TaskLaunch(taskDefinition: "web", count: 2, clientToken: "token-1"))
        }
        #expect(conflict?.code == .conflict)

        clock.advance(minutes: 11 * 60)
        #expect(try await plane.expireRetainedRecords().clientTokens == 1)
        let again = try await plane.launch(TaskLaunch(taskDefinition: "web", count: 2, clientToken: "token-1"))
        #expect(again.tasks.count == 2)
        #expect(await plane.inflight.count == 1)
        await plane.agentDisconnected(instanceArn: kept.containerInstanceArn, session: session)
        #expect(await plane.inflight.isEmpty, "an agent's payloads are forgotten when it goes")
    }
}
