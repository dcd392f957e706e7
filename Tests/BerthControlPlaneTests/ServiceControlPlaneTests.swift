import BerthAgentChannel
import BerthControlPlane
import BerthModel
import Foundation
import Testing

/// Services in the control plane: what DescribeServices shows is what the tasks are now, passes over one
/// service never overlap, and a stopped task brings its service's pass at once.
@Suite("Control plane: services")
struct ServiceControlPlaneTests {
    struct Fixture {
        let plane: ControlPlane
        let instance: RegisteredInstance
        let session: RecordingSession

        static func make() async throws -> Fixture {
            let plane = try await makeControlPlane()
            _ = try await plane.createCluster(name: nil)
            let instance = try await plane.registerContainerInstance(registration(memory: 8192))
            let session = RecordingSession()
            try await plane.agentConnected(instanceArn: instance.containerInstanceArn, session: session)
            _ = try await plane.registerTaskDefinition(
                TaskDefinitionRegistration(family: "web", containerDefinitions: [container("web", memory: 64)])
            )
            return Fixture(plane: plane, instance: instance, session: session)
        }

        func tasks() async throws -> [ClusterTask] {
            let arns = try await plane.listTasks(TaskListFilter(serviceName: "svc")).map(\.item)
            guard !arns.isEmpty else { return [] }
            return try await plane.describeTasks(arns, cluster: nil).tasks
        }

        func report(_ task: ClusterTask, _ status: BackendStatus, sequence: Int) async throws {
            try await plane.taskStateChanged(
                TaskStateChange(
                    taskArn: task.taskArn,
                    sequence: sequence,
                    status: status,
                    reason: status == .stopped ? "Essential container in task exited" : nil,
                    at: Timestamp(secondsSinceEpoch: Double(sequence)),
                    containers: [ContainerStateChange(containerName: "web", status: status, exitCode: 0)]
                ),
                instanceArn: instance.containerInstanceArn
            )
        }

        func service() async throws -> ClusterService {
            try #require(try await plane.describeServices(["svc"], cluster: nil).services.first)
        }
    }

    @Test("runningCount, pendingCount and the deployment's counts follow every report, with no scheduler pass between")
    func countsAreNeverStale() async throws {
        let fixture = try await Fixture.make()
        _ = try await fixture.plane.createService(
            ServiceRequest(serviceName: "svc", taskDefinition: "web", desiredCount: 3)
        )
        await fixture.plane.reconcileServices()
        let tasks = try await fixture.tasks()
        #expect(tasks.count == 3)
        var service = try await fixture.service()
        #expect((service.runningCount, service.pendingCount) == (0, 3))
        for task in tasks { try await fixture.report(task, .running, sequence: 1) }
        service = try await fixture.service()
        #expect((service.runningCount, service.pendingCount) == (3, 0))
        #expect(service.deployments.map(\.runningCount) == [3])
        try await fixture.report(tasks[0], .stopped, sequence: 2)
        service = try await fixture.service()
        #expect((service.runningCount, service.pendingCount) == (2, 0))
        #expect(service.deployments.map(\.runningCount) == [2])
    }

    @Test("a task's STOPPED report makes its service due: a pass over due services alone places the replacement")
    func stoppedReportWakesTheScheduler() async throws {
        let fixture = try await Fixture.make()
        _ = try await fixture.plane.createService(
            ServiceRequest(serviceName: "svc", taskDefinition: "web", desiredCount: 2)
        )
        await fixture.plane.reconcileServices(dueOnly: true)
        let tasks = try await fixture.tasks()
        #expect(tasks.count == 2, "CreateService makes the service due")
        for task in tasks { try await fixture.report(task, .running, sequence: 1) }
        await fixture.plane.reconcileServices(dueOnly: true)
        // Nothing happened since: a pass over due services does nothing, and no wake-up is pending.
        await fixture.plane.reconcileServices(dueOnly: true)
        try await fixture.report(tasks[0], .stopped, sequence: 2)
        // The report signalled the loop's wake-up (the wait returns at once; an hour is never reached).
        await fixture.plane.serviceWork.wait(upTo: .seconds(3600))
        await fixture.plane.reconcileServices(dueOnly: true)
        let after = try await fixture.tasks()
        #expect(after.count == 2)
        #expect(Set(after.map(\.taskArn)).subtracting(tasks.map(\.taskArn)).count == 1, "one replacement")
    }

    @Test("passes over one service started at once run one after the other: never more tasks than desired")
    func passesNeverOverlap() async throws {
        let fixture = try await Fixture.make()
        _ = try await fixture.plane.createService(
            ServiceRequest(serviceName: "svc", taskDefinition: "web", desiredCount: 4)
        )
        let plane = fixture.plane
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<6 { group.addTask { await plane.reconcileServices() } }
        }
        #expect(try await fixture.tasks().count == 4)
    }
}
