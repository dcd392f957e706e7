import BerthAgentChannel
import BerthModel
import Foundation
import Synchronization
import Testing

@testable import BerthControlPlane

/// Control planes sharing one store, as replicas share PostgreSQL: each follows the store's change feed,
/// says which agents it holds, and one at a time holds the lease of the singleton loops. Each replica has
/// a clock of its own, as separate machines do.
@Suite("Control plane: replicas sharing a store")
struct ReplicaTests {
    typealias Clock = RetentionTests.Clock

    struct Replicas {
        let store: InMemoryClusterStore
        /// Holds the singleton lease; the API calls of the tests go through it.
        let placing: ControlPlane
        let placingClock: Clock
        /// Holds the agent's channel.
        let holding: ControlPlane
        let holdingClock: Clock
        let instance: RegisteredInstance
        let session: RecordingSession

        /// `endpoint`: where it says agents reach it (BERTH_ADVERTISE_URL).
        static func replica(
            _ store: InMemoryClusterStore,
            _ clock: Clock,
            endpoint: String? = nil
        ) async throws -> ControlPlane {
            try await ControlPlane(
                store: store,
                settings: ControlPlane.Settings(
                    region: "us-east-1",
                    account: "123456789012",
                    instanceLostAfter: .seconds(60),
                    sharing: ControlPlane.Sharing(endpoint: endpoint),
                    now: { clock.now }
                ),
                logger: silentLogger
            )
        }

        /// `placing` takes the lease and registers the cluster, an instance with `memory` MiB and the task
        /// definition `web`; the instance's agent connects to `holding`.
        static func make(memory: Int = 4096) async throws -> Replicas {
            let store = InMemoryClusterStore()
            let placingClock = Clock()
            let holdingClock = Clock()
            let placing = try await replica(store, placingClock)
            let holding = try await replica(store, holdingClock)
            await placing.maintainReplica()
            _ = try await placing.createCluster(name: nil)
            let instance = try await placing.registerContainerInstance(registration(memory: memory))
            _ = try await placing.registerTaskDefinition(
                TaskDefinitionRegistration(family: "web", containerDefinitions: [container("web", memory: 128)])
            )
            try await holding.followChanges()
            await holding.maintainReplica()
            let session = RecordingSession()
            try await holding.agentConnected(instanceArn: instance.containerInstanceArn, session: session)
            try await placing.followChanges()
            return Replicas(
                store: store,
                placing: placing,
                placingClock: placingClock,
                holding: holding,
                holdingClock: holdingClock,
                instance: instance,
                session: session
            )
        }

        func instanceSeenBy(_ plane: ControlPlane) async throws -> ContainerInstance {
            try await plane.describeInstances([instance.containerInstanceArn], cluster: nil).instances[0].instance
        }
    }

    @Test("a task placed through one replica is described by the other and sent by it to the agent it holds")
    func crossReplicaDelivery() async throws {
        let replicas = try await Replicas.make()
        #expect(try await replicas.instanceSeenBy(replicas.placing).agentConnected)
        let (placed, failures) = try await replicas.placing.launch(TaskLaunch(taskDefinition: "web"))
        #expect(failures.isEmpty)
        let task = try #require(placed.first)
        // The placing replica has no session for the instance: nothing is sent until the holder follows.
        #expect(replicas.session.messages.isEmpty)
        #expect(try await replicas.holding.describeTasks([task.taskArn], cluster: nil).tasks.isEmpty)

        #expect(try await replicas.holding.followChanges() > 0)
        let described = try await replicas.holding.describeTasks([task.taskArn], cluster: nil).tasks
        #expect(described.map(\.lastStatus) == ["PENDING"])
        #expect(replicas.session.messages.flatMap(\.tasks).map(\.taskArn) == [task.taskArn])
        // Following again changes nothing and sends nothing twice.
        #expect(try await replicas.holding.followChanges() == 0)
        #expect(replicas.session.messages.count == 1)

        // The agent's acknowledgement and its RUNNING reach the placing replica the same way.
        let message = try #require(replicas.session.messages.first)
        try await replicas.holding.payloadAcknowledged(
            messageID: message.messageID,
            instanceArn: replicas.instance.containerInstanceArn
        )
        try await replicas.holding.taskStateChanged(
            TaskStateChange(taskArn: task.taskArn, sequence: 1, status: .running, at: replicas.holdingClock.now),
            instanceArn: replicas.instance.containerInstanceArn
        )
        try await replicas.placing.followChanges()
        let running = try await replicas.placing.describeTasks([task.taskArn], cluster: nil).tasks
        #expect(running.map(\.lastStatus) == ["RUNNING"])

        // A stop through the placing replica is sent by the holder.
        _ = try await replicas.placing.stopTask(task.taskArn, cluster: nil, reason: "done")
        try await replicas.holding.followChanges()
        let stop = try #require(replicas.session.messages.last?.tasks.first)
        #expect(stop.taskArn == task.taskArn)
        #expect(stop.desiredStatus == .stopped)
    }

    @Test(
        "a replica whose commit conflicts follows the whole feed before deciding again, and sends the agent it holds what it learns so"
    )
    func conflictFollowsFeed() async throws {
        let replicas = try await Replicas.make()
        let first = try #require(try await replicas.placing.launch(TaskLaunch(taskDefinition: "web")).tasks.first)
        // The holder has not followed: its copy of the instance is stale, so its placement conflicts. Deciding
        // again on the instance alone would place correctly, but leave it blind to the first task.
        let second = try #require(try await replicas.holding.launch(TaskLaunch(taskDefinition: "web")).tasks.first)
        #expect(try await replicas.holding.describeTasks([first.taskArn], cluster: nil).tasks.count == 1)
        #expect(try await replicas.instanceSeenBy(replicas.holding).reserved.memory == 256)
        let sent = replicas.session.messages.flatMap(\.tasks).map(\.taskArn)
        #expect(Set(sent) == [first.taskArn, second.taskArn])
        #expect(sent.count == 2)
        // Nothing is left to follow, and nothing goes out twice.
        #expect(try await replicas.holding.followChanges() == 0)
        #expect(replicas.session.messages.flatMap(\.tasks).count == 2)
    }

    @Test(
        "DiscoverPollEndpoint steers an agent to a live replica holding the fewest agents, alike on every replica; a dead one is never named"
    )
    func steering() async throws {
        let store = InMemoryClusterStore()
        let clocks = [Clock(), Clock(), Clock()]
        var planes: [ControlPlane] = []
        for index in 0..<3 {
            planes.append(try await Replicas.replica(store, clocks[index], endpoint: "https://cp-\(index).example"))
        }
        _ = try await planes[0].createCluster(name: nil)
        let first = try await planes[0].registerContainerInstance(registration()).containerInstanceArn
        let second = try await planes[0].registerContainerInstance(registration()).containerInstanceArn
        for plane in planes { await plane.maintainReplica() }
        try await planes[1].agentConnected(instanceArn: first, session: RecordingSession())
        for plane in planes { try await plane.followChanges() }

        // Replica 1 holds an agent: the second goes to 0 or 2, whichever replica it asks.
        var answers: Set<String?> = []
        for plane in planes { answers.insert(await plane.pollEndpoint(forInstance: second, cluster: nil)) }
        #expect(answers.count == 1)
        let answer = try #require(answers.first ?? nil)
        #expect(["https://cp-0.example", "https://cp-2.example"].contains(answer))
        // An agent asking again is not counted against the replica it is still connected to.
        let instanceID = String(try #require(first.split(separator: "/").last))
        #expect(await planes[1].pollEndpoint(forInstance: instanceID, cluster: "default") != nil)

        // Replicas 0 and 2 stop their heartbeats: once they count as dead, only replica 1 is named.
        for clock in clocks { clock.advance(minutes: 0.5) }
        await planes[1].maintainReplica()
        #expect(await planes[1].pollEndpoint(forInstance: second, cluster: nil) == "https://cp-1.example")

        // Replicas that do not say where they are leave the answer to DiscoverPollEndpoint.
        let silent = try await Replicas.replica(InMemoryClusterStore(), Clock())
        await silent.maintainReplica()
        #expect(await silent.pollEndpoint(forInstance: second, cluster: nil) == nil)
    }

    @Test("placement on either replica counts what the other reserved; what one forgets, the other forgets")
    func reservationsAndRetention() async throws {
        let replicas = try await Replicas.make(memory: 300)
        let first = try #require(try await replicas.placing.launch(TaskLaunch(taskDefinition: "web")).tasks.first)
        try await replicas.holding.followChanges()
        #expect(try await replicas.instanceSeenBy(replicas.holding).reserved.memory == 128)
        // Room for one more 128 MiB task in 300, whichever replica places it.
        let (second, _) = try await replicas.holding.launch(TaskLaunch(taskDefinition: "web"))
        try await replicas.placing.followChanges()
        let (third, failures) = try await replicas.placing.launch(TaskLaunch(taskDefinition: "web"))
        #expect(second.count == 1)
        #expect(third.isEmpty)
        #expect(failures.map(\.reason) == ["RESOURCE:MEMORY"])

        // A STOPPED task forgotten after its retention by the lease holder is forgotten by the other.
        _ = try await replicas.placing.stopTask(first.taskArn, cluster: nil, reason: nil)
        try await replicas.holding.followChanges()
        try await replicas.holding.taskStateChanged(
            TaskStateChange(taskArn: first.taskArn, sequence: 1, status: .stopped, at: replicas.holdingClock.now),
            instanceArn: replicas.instance.containerInstanceArn
        )
        try await replicas.placing.followChanges()
        replicas.placingClock.advance(minutes: 61)
        replicas.holdingClock.advance(minutes: 61)
        // Only the lease holder expires records.
        #expect(try await replicas.holding.expireRetainedRecords().stoppedTasks == 0)
        await replicas.placing.maintainReplica()
        #expect(try await replicas.placing.expireRetainedRecords().stoppedTasks == 1)
        #expect(try await replicas.holding.describeTasks([first.taskArn], cluster: nil).tasks.count == 1)
        try await replicas.holding.followChanges()
        #expect(try await replicas.holding.describeTasks([first.taskArn], cluster: nil).tasks.isEmpty)
    }

    @Test(
        "the singleton lease: one holder; when it stops renewing another takes it, and the old holder's writes are refused though its clock says it still holds it"
    )
    func singletonLease() async throws {
        let replicas = try await Replicas.make()
        #expect(await replicas.placing.runsSingletonLoops)
        #expect(await !replicas.holding.runsSingletonLoops)
        _ = try await replicas.placing.createService(
            ServiceRequest(serviceName: "app", taskDefinition: "web", desiredCount: 1)
        )
        try await replicas.holding.followChanges()
        // Not the holder: its scheduler does nothing.
        await replicas.holding.reconcileServices()
        #expect(try await replicas.holding.listTasks(TaskListFilter(serviceName: "app")).isEmpty)

        // The holder stops renewing (paused; its clock stands still). Once the lease has run out on the
        // other's clock, the other takes it, with the next epoch.
        replicas.holdingClock.advance(minutes: 0.2)
        await replicas.holding.maintainReplica()
        #expect(await replicas.holding.runsSingletonLoops)
        #expect(await replicas.holding.leases[ControlPlane.singletonLease]?.value.epoch == 2)

        // The old holder wakes: by its clock and its copy it still holds the lease, but every write of its
        // scheduler requires the lease as it last saw it, and the store has a newer one.
        #expect(await replicas.placing.runsSingletonLoops)
        await replicas.placing.reconcileServices()
        await replicas.holding.reconcileServices()
        try await replicas.placing.followChanges()
        try await replicas.holding.followChanges()
        for plane in [replicas.placing, replicas.holding] {
            #expect(try await plane.listTasks(TaskListFilter(serviceName: "app")).count == 1)
        }
        // Having followed the feed, the old holder knows it lost the lease, and does not take it back.
        #expect(await !replicas.placing.runsSingletonLoops)
        await replicas.placing.maintainReplica()
        #expect(await !replicas.placing.runsSingletonLoops)
    }

    @Test(
        "a replica that dies: its agents count as away from its last heartbeat, and their service tasks go elsewhere once lost"
    )
    func deadReplica() async throws {
        let replicas = try await Replicas.make()
        _ = try await replicas.placing.createService(
            ServiceRequest(serviceName: "app", taskDefinition: "web", desiredCount: 1)
        )
        await replicas.placing.reconcileServices()
        #expect(try await replicas.placing.listTasks(TaskListFilter(serviceName: "app")).count == 1)

        // The holding replica dies. Its heartbeat goes stale after 15 s: its agent no longer counts as
        // connected, and no task is placed on its instance.
        replicas.placingClock.advance(minutes: 0.3)
        await replicas.placing.maintainReplica()
        #expect(try await !replicas.instanceSeenBy(replicas.placing).agentConnected)
        let (placed, failures) = try await replicas.placing.launch(TaskLaunch(taskDefinition: "web"))
        #expect(placed.isEmpty)
        #expect(failures.map(\.reason) == ["AGENT"])
        // Lost once away a minute (BERTH_INSTANCE_LOST_AFTER here) from that heartbeat.
        #expect(try await replicas.placing.stopServiceTasksOfLostInstances().isEmpty)
        replicas.placingClock.advance(minutes: 1)
        await replicas.placing.maintainReplica()
        let lost = try await replicas.placing.stopServiceTasksOfLostInstances()
        #expect(lost.count == 1)
        #expect(lost.first?.stoppedReason?.hasPrefix("Host lost: no contact since") == true)
    }
}
