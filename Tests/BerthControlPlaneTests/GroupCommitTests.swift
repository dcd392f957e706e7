import BerthAgentChannel
import BerthModel
import BerthTestSupport
import Foundation
import Testing

@testable import BerthControlPlane

/// Calls that decide while the store is busy are committed together, and undone together when that fails.
@Suite("Group commit")
struct GroupCommitTests {
    struct Setup {
        let store: ControlledStore
        let plane: ControlPlane
        let instanceArn: String
    }

    static func setUp() async throws -> Setup {
        let store = ControlledStore()
        let plane = try await makeControlPlane(store: store)
        _ = try await plane.createCluster(name: nil)
        let instance = try await plane.registerContainerInstance(registration(memory: 4096))
        try await plane.agentConnected(instanceArn: instance.containerInstanceArn, session: RecordingSession())
        _ = try await plane.registerTaskDefinition(
            TaskDefinitionRegistration(family: "web", containerDefinitions: [container("web", memory: 128)])
        )
        return Setup(store: store, plane: plane, instanceArn: instance.containerInstanceArn)
    }

    /// What a control plane loaded afresh from the store holds: tasks, and the instance's reserved memory.
    static func durable(_ setup: Setup) async throws -> (tasks: Set<String>, reserved: Int) {
        let fresh = try await makeControlPlane(store: setup.store)
        let tasks = try await fresh.listTasks(TaskListFilter()).map(\.item)
        let instance = try await fresh.describeInstances([setup.instanceArn], cluster: nil).instances[0].instance
        return (Set(tasks), instance.reserved.memory)
    }

    @Test("20 RunTask calls while a commit is held: the 19 behind it land in one store commit, all durable")
    func gathered() async throws {
        let setup = try await Self.setUp()
        let before = await setup.store.commits
        await setup.store.hold()
        let calls = Task {
            try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await setup.plane.launch(TaskLaunch(taskDefinition: "web")).tasks.map(\.taskArn)
                    }
                }
                var all: [String] = []
                for try await arns in group { all += arns }
                return all
            }
        }
        // One commit held at the store; the other 19 calls' writes (an instance and a task each) gathering.
        try await waitUntil("one commit held and 19 calls gathered") {
            let gathering = await setup.plane.writesGathering
            return await setup.store.waiting == 1 && gathering == 38
        }
        await setup.store.release(failing: false)
        let placed = try await calls.value
        #expect(placed.count == 20)
        #expect(await setup.store.commits - before == 2)
        let durable = try await Self.durable(setup)
        #expect(durable.tasks == Set(placed))
        #expect(durable.reserved == 20 * 128)
        let held = try await setup.plane.describeInstances([setup.instanceArn], cluster: nil).instances[0].instance
        #expect(held.reserved.memory == 20 * 128)
    }

    @Test("a held commit that fails takes back the calls gathered behind it: none placed, nothing reserved")
    func failedTogether() async throws {
        let setup = try await Self.setUp()
        await setup.store.hold()
        let calls = (0..<10).map { _ in
            Task { try await setup.plane.launch(TaskLaunch(taskDefinition: "web")).tasks.map(\.taskArn) }
        }
        try await waitUntil("one commit held and 9 calls gathered") {
            let gathering = await setup.plane.writesGathering
            return await setup.store.waiting == 1 && gathering == 18
        }
        await setup.store.release(failing: true)
        for call in calls {
            let failure = await #expect(throws: ClusterError.self) { try await call.value }
            #expect(failure?.code == .server)
        }
        // Nothing of them here or in the store.
        #expect(try await setup.plane.listTasks(TaskListFilter()).isEmpty)
        let held = try await setup.plane.describeInstances([setup.instanceArn], cluster: nil).instances[0].instance
        #expect(held.reserved.memory == 0)
        let durable = try await Self.durable(setup)
        #expect(durable.tasks.isEmpty)
        #expect(durable.reserved == 0)
        // Once the store answers again, calls go through (a second after the failure, as before).
        var placed: [String] = []
        try await waitUntil("RunTask placing again") {
            guard let arns = try? await setup.plane.launch(TaskLaunch(taskDefinition: "web")).tasks else {
                return false
            }
            placed = arns.map(\.taskArn)
            return true
        }
        #expect(try await Self.durable(setup).tasks == Set(placed))
    }
}
