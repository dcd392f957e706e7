import BerthAgentChannel
import BerthModel
import Foundation
import Testing

@testable import BerthControlPlane

/// A host whose agent stays away longer than `instanceLostAfter` is lost: its service tasks are replaced on
/// hosts that are connected, its standalone tasks are left, and when it comes back it is told to stop what
/// was replaced.
@Suite("Control plane: lost instances")
struct LostInstanceTests {
    typealias Clock = RetentionTests.Clock

    static func plane(
        _ clock: Clock,
        store: InMemoryClusterStore = InMemoryClusterStore()
    ) async throws
        -> ControlPlane
    {
        try await ControlPlane(
            store: store,
            settings: ControlPlane.Settings(
                region: "us-east-1",
                account: "123456789012",
                instanceLostAfter: .seconds(600),
                now: { clock.now }
            ),
            logger: silentLogger
        )
    }

    /// The default cluster with one connected host, and a service `svc` of `desiredCount` tasks placed on it;
    /// returns the host's ARN.
    static func hostRunningService(on plane: ControlPlane, desiredCount: Int) async throws -> String {
        _ = try await plane.createCluster(name: nil)
        let host = try await plane.registerContainerInstance(registration()).containerInstanceArn
        try await plane.agentConnected(instanceArn: host, session: RecordingSession())
        _ = try await plane.registerTaskDefinition(
            TaskDefinitionRegistration(family: "web", containerDefinitions: [container("web", memory: 64)])
        )
        _ = try await plane.createService(
            ServiceRequest(serviceName: "svc", taskDefinition: "web", desiredCount: desiredCount)
        )
        await plane.reconcileServices()
        return host
    }

    /// The service's tasks, STOPPED ones included.
    static func serviceTasks(_ plane: ControlPlane) async throws -> [ClusterTask] {
        try await plane.describeTasks(
            try await plane.listTasks(TaskListFilter(serviceName: "svc")).map(\.item),
            cluster: nil
        ).tasks
    }

    @Test("away past the threshold: service tasks STOPPED and replaced elsewhere; told to stop them on return")
    func serviceTasksOfALostHostAreReplaced() async throws {
        let clock = Clock()
        let plane = try await Self.plane(clock)
        let hostA = try await Self.hostRunningService(on: plane, desiredCount: 2)
        let standalone = try #require(try await plane.launch(TaskLaunch(taskDefinition: "web")).tasks.first)
        let onA = try await Self.serviceTasks(plane)
        #expect(onA.count == 2 && onA.allSatisfy { $0.containerInstanceArn == hostA })

        let hostB = try await plane.registerContainerInstance(registration()).containerInstanceArn
        try await plane.agentConnected(instanceArn: hostB, session: RecordingSession())
        let leftA = RecordingSession()
        try await plane.agentConnected(instanceArn: hostA, session: leftA)
        await plane.agentDisconnected(instanceArn: hostA, session: leftA)
        let awayAt = clock.now

        // A short gap is normal: nothing happens.
        clock.advance(minutes: 9)
        #expect(try await plane.stopServiceTasksOfLostInstances().isEmpty)

        clock.advance(minutes: 2)
        let stopped = try await plane.stopServiceTasksOfLostInstances()
        #expect(Set(stopped.map(\.taskArn)) == Set(onA.map(\.taskArn)))
        let described = try await plane.describeTasks(onA.map(\.taskArn), cluster: nil).tasks
        #expect(described.allSatisfy { $0.lastStatus == "STOPPED" && $0.desiredStatus == .stopped })
        #expect(
            described.allSatisfy { $0.stoppedReason == "Host lost: no contact since \(ControlPlane.isoTime(awayAt))" }
        )
        // The standalone task is left to its host; the instance holds only its reservation.
        let kept = try #require(try await plane.describeTasks([standalone.taskArn], cluster: nil).tasks.first)
        #expect(!kept.isStopped)
        let instanceA = try #require(
            try await plane.describeInstances([hostA], cluster: nil).instances.first
        )
        #expect(instanceA.instance.reserved == standalone.reservation)
        // Found once: a later check stops nothing more.
        #expect(try await plane.stopServiceTasksOfLostInstances().isEmpty)

        // The service replaces them on the host that is connected.
        await plane.reconcileServices(dueOnly: true)
        let live = try await Self.serviceTasks(plane).filter { !$0.isStopped }
        #expect(live.count == 2 && live.allSatisfy { $0.containerInstanceArn == hostB })

        // Kept past the retention while the host has not been told; forgotten once it has.
        clock.advance(minutes: 120)
        _ = try await plane.expireRetainedRecords()
        #expect(try await plane.describeTasks(onA.map(\.taskArn), cluster: nil).tasks.count == 2)
        let back = RecordingSession()
        try await plane.agentConnected(instanceArn: hostA, session: back)
        // Told to stop the replaced tasks; the standalone one, never acknowledged here, comes again to run.
        let told = back.messages.flatMap(\.tasks)
        #expect(Set(told.filter { $0.desiredStatus == .stopped }.map(\.taskArn)) == Set(onA.map(\.taskArn)))
        #expect(told.filter { $0.desiredStatus == .running }.map(\.taskArn) == [standalone.taskArn])
        for message in back.messages {
            try await plane.payloadAcknowledged(messageID: message.messageID, instanceArn: hostA)
        }
        _ = try await plane.expireRetainedRecords()
        #expect(try await plane.describeTasks(onA.map(\.taskArn), cluster: nil).tasks.isEmpty)
    }

    @Test("after a control plane restart, a host counts as away from the restart, not from before it")
    func restartDoesNotMakeHostsLost() async throws {
        let clock = Clock()
        let store = InMemoryClusterStore()
        let first = try await Self.plane(clock, store: store)
        _ = try await Self.hostRunningService(on: first, desiredCount: 1)

        clock.advance(minutes: 60)
        let restarted = try await Self.plane(clock, store: store)
        clock.advance(minutes: 9)
        #expect(try await restarted.stopServiceTasksOfLostInstances().isEmpty)
        clock.advance(minutes: 2)
        #expect(try await restarted.stopServiceTasksOfLostInstances().count == 1)
    }
}
