import BerthAgentChannel
import BerthControlPlane
import BerthModel
import Foundation
import Testing

@Suite("Control plane: clusters, instances, tasks and the agent channel")
struct ControlPlaneTests {
    /// A cluster with one registered, connected instance, and a task definition `web` (128 MiB, port 8080).
    struct Fixture {
        let plane: ControlPlane
        let instance: RegisteredInstance
        let session: RecordingSession

        static func make(memory: Int = 4096) async throws -> Fixture {
            let plane = try await makeControlPlane()
            _ = try await plane.createCluster(name: nil)
            let instance = try await plane.registerContainerInstance(registration(memory: memory))
            let session = RecordingSession()
            try await plane.agentConnected(instanceArn: instance.containerInstanceArn, session: session)
            _ = try await plane.registerTaskDefinition(
                TaskDefinitionRegistration(
                    family: "web",
                    containerDefinitions: [
                        container("web", memory: 128, cpu: 256, ports: [PortMapping(containerPort: 80, hostPort: 8080)])
                    ]
                )
            )
            return Fixture(plane: plane, instance: instance, session: session)
        }

        func instanceState() async throws -> ContainerInstance {
            try await plane.describeInstances([instance.containerInstanceArn], cluster: nil).instances[0].instance
        }
    }

    @Test("RunTask places a PENDING task, reserves its resources and sends it to the agent")
    func runTask() async throws {
        let fixture = try await Fixture.make()
        let (tasks, failures) = try await fixture.plane.launch(TaskLaunch(taskDefinition: "web"))
        #expect(failures.isEmpty)
        let task = try #require(tasks.first)
        #expect(task.lastStatus == "PENDING")
        #expect(task.desiredStatus == .running)
        #expect(task.group == "family:web")
        #expect(task.taskArn.hasPrefix("arn:aws:ecs:us-east-1:123456789012:task/default/"))
        let instance = try await fixture.instanceState()
        #expect(instance.reserved == Reservation(cpu: 256, memory: 128, ports: [8080]))
        let remaining = instance.remainingResources
        #expect(remaining.first { $0.name == "MEMORY" }?.integerValue == 4096 - 128)
        #expect(remaining.first { $0.name == "PORTS" }?.stringSetValue?.contains("8080") == true)
        let payload = try #require(fixture.session.messages.first?.tasks.first)
        #expect(payload.taskArn == task.taskArn)
        #expect(payload.containers.map(\.name) == ["web"])
    }

    @Test("a second task on the same fixed port fails with RESOURCE:PORTS; memory runs out with RESOURCE:MEMORY")
    func resourceFailures() async throws {
        let fixture = try await Fixture.make(memory: 300)
        let (first, _) = try await fixture.plane.launch(TaskLaunch(taskDefinition: "web"))
        #expect(first.count == 1)
        let (second, failures) = try await fixture.plane.launch(TaskLaunch(taskDefinition: "web"))
        #expect(second.isEmpty)
        #expect(failures.map(\.reason) == ["RESOURCE:PORTS"])
        #expect(failures.first?.arn == fixture.instance.containerInstanceArn)

        _ = try await fixture.plane.registerTaskDefinition(
            TaskDefinitionRegistration(family: "big", containerDefinitions: [container("big", memory: 100)])
        )
        let (placed, memoryFailures) = try await fixture.plane.launch(TaskLaunch(taskDefinition: "big", count: 3))
        #expect(placed.count == 1)
        #expect(memoryFailures.map(\.reason) == ["RESOURCE:MEMORY"])
    }

    @Test("the agent's reports drive the task: RUNNING with bindings, STOPPED with exit code; resources come back")
    func stateChanges() async throws {
        let fixture = try await Fixture.make()
        let task = try #require(try await fixture.plane.launch(TaskLaunch(taskDefinition: "web")).tasks.first)
        let binding = NetworkBinding(bindIP: "0.0.0.0", containerPort: 80, hostPort: 8080, protocol: .tcp)
        let running = TaskStateChange(
            taskArn: task.taskArn,
            sequence: 1,
            status: .running,
            at: Timestamp(secondsSinceEpoch: 100),
            containers: [
                ContainerStateChange(
                    containerName: "web",
                    runtimeId: "abc",
                    status: .running,
                    networkBindings: [binding]
                )
            ]
        )
        try await fixture.plane.taskStateChanged(running, instanceArn: fixture.instance.containerInstanceArn)
        // The same report again (a lost answer) changes nothing.
        try await fixture.plane.taskStateChanged(running, instanceArn: fixture.instance.containerInstanceArn)
        var described = try await fixture.plane.describeTasks([task.taskArn], cluster: nil).tasks[0]
        #expect(described.lastStatus == "RUNNING")
        #expect(described.startedAt == Timestamp(secondsSinceEpoch: 100))
        #expect(described.containers[0].networkBindings == [binding])
        #expect(described.containers[0].runtimeId == "abc")
        let versionWhenRunning = described.version
        let summary = await fixture.plane.describeClusters([]).clusters[0]
        #expect(summary.runningTasksCount == 1)

        let stopped = TaskStateChange(
            taskArn: task.taskArn,
            sequence: 2,
            status: .stopped,
            reason: "Essential container in task exited",
            stopCode: .essentialContainerExited,
            at: Timestamp(secondsSinceEpoch: 200),
            containers: [ContainerStateChange(containerName: "web", status: .stopped, exitCode: 3)]
        )
        try await fixture.plane.taskStateChanged(stopped, instanceArn: fixture.instance.containerInstanceArn)
        // An older report arriving late cannot move it back.
        try await fixture.plane.taskStateChanged(running, instanceArn: fixture.instance.containerInstanceArn)
        described = try await fixture.plane.describeTasks([task.taskArn], cluster: nil).tasks[0]
        #expect(described.lastStatus == "STOPPED")
        #expect(described.desiredStatus == .stopped)
        #expect(described.stopCode == .essentialContainerExited)
        #expect(described.stoppedReason == "Essential container in task exited")
        #expect(described.containers[0].exitCode == 3)
        #expect(described.version > versionWhenRunning)
        #expect(try await fixture.instanceState().reserved == Reservation())
        #expect(try await fixture.plane.listTasks(TaskListFilter()).isEmpty)
        #expect(
            try await fixture.plane.listTasks(TaskListFilter(desiredStatus: .stopped)).map(\.item) == [task.taskArn]
        )
    }

    @Test("a SubmitContainerStateChange through the API does not make the agent's next report look old")
    func externalReportKeepsAgentSequence() async throws {
        let fixture = try await Fixture.make()
        let task = try #require(try await fixture.plane.launch(TaskLaunch(taskDefinition: "web")).tasks.first)
        let agent = fixture.instance.containerInstanceArn
        let running = TaskStateChange(
            taskArn: task.taskArn,
            sequence: 1,
            status: .running,
            at: Timestamp(secondsSinceEpoch: 100),
            containers: [ContainerStateChange(containerName: "web", status: .running)]
        )
        try await fixture.plane.taskStateChanged(running, instanceArn: agent)
        for _ in 0..<3 {
            try await fixture.plane.submitExternalStateChange(
                task: task.taskArn,
                cluster: nil,
                status: nil,
                reason: nil,
                containers: [ContainerStateChange(containerName: "web", status: .running, exitCode: 0)]
            )
        }
        let stopped = TaskStateChange(
            taskArn: task.taskArn,
            sequence: 2,
            status: .stopped,
            reason: "Essential container in task exited",
            at: Timestamp(secondsSinceEpoch: 200),
            containers: [ContainerStateChange(containerName: "web", status: .stopped, exitCode: 1)]
        )
        try await fixture.plane.taskStateChanged(stopped, instanceArn: agent)
        let described = try await fixture.plane.describeTasks([task.taskArn], cluster: nil).tasks[0]
        #expect(described.lastStatus == "STOPPED")
        #expect(described.containers[0].exitCode == 1)
        #expect(try await fixture.instanceState().reserved == Reservation())
    }

    @Test("StopTask sets desired STOPPED with the reason and sends it; the agent's STOPPED keeps that reason")
    func stopTask() async throws {
        let fixture = try await Fixture.make()
        let task = try #require(try await fixture.plane.launch(TaskLaunch(taskDefinition: "web")).tasks.first)
        let stopping = try await fixture.plane.stopTask(task.taskArn, cluster: nil, reason: "done here")
        #expect(stopping.desiredStatus == .stopped)
        #expect(stopping.stopCode == .userInitiated)
        let last = try #require(fixture.session.messages.last?.tasks.first)
        #expect(last.desiredStatus == .stopped)
        #expect(last.stoppedReason == "done here")
        let report = TaskStateChange(
            taskArn: task.taskArn,
            sequence: 1,
            status: .stopped,
            reason: "Task stopped by the agent",
            at: Timestamp(secondsSinceEpoch: 1)
        )
        try await fixture.plane.taskStateChanged(report, instanceArn: fixture.instance.containerInstanceArn)
        let described = try await fixture.plane.describeTasks([task.id], cluster: "default").tasks[0]
        #expect(described.stoppedReason == "done here")
    }

    @Test("unacknowledged payloads are sent again when the agent reconnects; acknowledged ones are not")
    func redelivery() async throws {
        let fixture = try await Fixture.make()
        let arn = fixture.instance.containerInstanceArn
        let first = try #require(try await fixture.plane.launch(TaskLaunch(taskDefinition: "web")).tasks.first)
        let message = try #require(fixture.session.messages.first)
        try await fixture.plane.payloadAcknowledged(messageID: message.messageID, instanceArn: arn)
        await fixture.plane.agentDisconnected(instanceArn: arn, session: fixture.session)
        _ = try await fixture.plane.stopTask(first.taskArn, cluster: nil, reason: nil)

        let again = RecordingSession()
        try await fixture.plane.agentConnected(instanceArn: arn, session: again)
        let resent = again.messages.flatMap(\.tasks)
        #expect(resent.map(\.taskArn) == [first.taskArn])
        #expect(resent.first?.desiredStatus == .stopped)

        // Once the agent reports it STOPPED, it is not sent again.
        let report = TaskStateChange(
            taskArn: first.taskArn,
            sequence: 1,
            status: .stopped,
            at: Timestamp(secondsSinceEpoch: 1)
        )
        try await fixture.plane.taskStateChanged(report, instanceArn: arn)
        await fixture.plane.agentDisconnected(instanceArn: arn, session: again)
        let third = RecordingSession()
        try await fixture.plane.agentConnected(instanceArn: arn, session: third)
        #expect(third.messages.isEmpty)
    }

    @Test("a second connection for an instance replaces the first: the first is closed, and its going changes nothing")
    func newerConnectionReplacesOlder() async throws {
        let fixture = try await Fixture.make()
        let arn = fixture.instance.containerInstanceArn
        let newer = RecordingSession()
        try await fixture.plane.agentConnected(instanceArn: arn, session: newer)
        #expect(fixture.session.closedBecause?.contains("replaced by a newer connection") == true)
        #expect(newer.closedBecause == nil)
        // The older connection ending afterwards does not make the instance disconnected.
        await fixture.plane.agentDisconnected(instanceArn: arn, session: fixture.session)
        #expect(try await fixture.instanceState().agentConnected)
        let task = try #require(try await fixture.plane.launch(TaskLaunch(taskDefinition: "web")).tasks.first)
        #expect(newer.messages.flatMap(\.tasks).map(\.taskArn) == [task.taskArn])
        #expect(fixture.session.messages.isEmpty)
    }

    @Test("in process, the replaced connection's payload stream finishes, and the newer one gets the payloads")
    func inProcessStreamOfReplacedConnectionFinishes() async throws {
        let fixture = try await Fixture.make()
        let arn = fixture.instance.containerInstanceArn
        let channel = InProcessAgentChannel(handler: fixture.plane)
        let older = try await channel.connect(instanceArn: arn)
        let newer = try await channel.connect(instanceArn: arn)
        // Bounded, so that a stream left open fails the test rather than hanging it.
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                // A replaced connection ends cleanly: no error.
                do {
                    for try await _ in older {}
                } catch {
                    return false
                }
                return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(30))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(finished, "the replaced connection's payload stream is still open")
        let task = try #require(try await fixture.plane.launch(TaskLaunch(taskDefinition: "web")).tasks.first)
        var iterator = newer.makeAsyncIterator()
        #expect(try await iterator.next()?.payload?.tasks.map(\.taskArn) == [task.taskArn])
        #expect(try await fixture.instanceState().agentConnected)
    }

    @Test("DRAINING instances take no new tasks; an agent that is not connected is an AGENT failure")
    func drainingAndDisconnected() async throws {
        let fixture = try await Fixture.make()
        let arn = fixture.instance.containerInstanceArn
        _ = try await fixture.plane.updateInstancesState([arn], cluster: nil, status: .draining)
        await #expect(throws: ClusterError.self) { try await fixture.plane.launch(TaskLaunch(taskDefinition: "web")) }
        _ = try await fixture.plane.updateInstancesState([arn], cluster: nil, status: .active)
        await fixture.plane.agentDisconnected(instanceArn: arn, session: fixture.session)
        let (tasks, failures) = try await fixture.plane.launch(TaskLaunch(taskDefinition: "web"))
        #expect(tasks.isEmpty)
        #expect(failures.map(\.reason) == ["AGENT"])
    }

    @Test("a clientToken makes RunTask idempotent; the same token with other parameters is a ConflictException")
    func clientToken() async throws {
        let fixture = try await Fixture.make()
        let first = try await fixture.plane.launch(TaskLaunch(taskDefinition: "web", clientToken: "token-1"))
        let again = try await fixture.plane.launch(TaskLaunch(taskDefinition: "web", clientToken: "token-1"))
        #expect(first.tasks.map(\.taskArn) == again.tasks.map(\.taskArn))
        let error = await #expect(throws: ClusterError.self) {
            try await fixture.plane.launch(TaskLaunch(taskDefinition: "web", count: 2, clientToken: "token-1"))
        }
        #expect(error?.code == .conflict)
    }

    @Test("cluster guards: unknown clusters, deleting a cluster with instances, RunTask on an empty cluster")
    func clusterGuards() async throws {
        let plane = try await makeControlPlane()
        _ = try await plane.createCluster(name: "empty")
        _ = try await plane.registerTaskDefinition(
            TaskDefinitionRegistration(family: "web", containerDefinitions: [container("web")])
        )
        let empty = await #expect(throws: ClusterError.self) {
            try await plane.launch(TaskLaunch(cluster: "empty", taskDefinition: "web"))
        }
        #expect(empty?.message == "No Container Instances were found in your cluster.")
        let missing = await #expect(throws: ClusterError.self) {
            try await plane.launch(TaskLaunch(cluster: "nope", taskDefinition: "web"))
        }
        #expect(missing?.code == .clusterNotFound)
        let instance = try await plane.registerContainerInstance(registration(cluster: "empty"))
        let guarded = await #expect(throws: ClusterError.self) { try await plane.deleteCluster("empty") }
        #expect(guarded?.code == .clusterContainsContainerInstances)
        _ = try await plane.deregisterInstance(instance.containerInstanceArn, cluster: "empty", force: false)
        let deleted = try await plane.deleteCluster("empty")
        #expect(deleted.cluster.status == .inactive)
        #expect(await plane.describeClusters(["empty"]).clusters.first?.cluster.status == .inactive)
        #expect(await plane.listClusters().isEmpty)
    }

    @Test(
        "task definitions: revisions per family, a bare family is the latest ACTIVE, deregistered ones stay describable"
    )
    func taskDefinitions() async throws {
        let plane = try await makeControlPlane()
        let one = try await plane.registerTaskDefinition(
            TaskDefinitionRegistration(family: "app", containerDefinitions: [container("a")])
        )
        let two = try await plane.registerTaskDefinition(
            TaskDefinitionRegistration(family: "app", containerDefinitions: [container("a", memory: 256)])
        )
        #expect(one.revision == 1 && two.revision == 2)
        #expect(try await plane.describeTaskDefinition("app").revision == 2)
        _ = try await plane.deregisterTaskDefinition("app:2")
        #expect(try await plane.describeTaskDefinition("app").revision == 1)
        #expect(try await plane.describeTaskDefinition(two.taskDefinitionArn).status == .inactive)
        _ = try await plane.createCluster(name: nil)
        _ = try await plane.registerContainerInstance(registration())
        let inactive = await #expect(throws: ClusterError.self) {
            try await plane.launch(TaskLaunch(taskDefinition: "app:2"))
        }
        #expect(inactive?.message == "TaskDefinition is inactive")
        #expect(
            await plane.listTaskDefinitions(familyPrefix: "ap", status: .active, descending: false).map(\.item) == [
                one.taskDefinitionArn
            ]
        )
        #expect(await plane.listTaskDefinitionFamilies(familyPrefix: nil, status: .all).map(\.item) == ["app"])
        let bad = await #expect(throws: ClusterError.self) {
            try await plane.registerTaskDefinition(
                TaskDefinitionRegistration(
                    family: "x",
                    containerDefinitions: [ContainerDefinition(name: "a", image: "b")]
                )
            )
        }
        #expect(bad?.code == .client)
    }

    @Test("the limit of 10 custom attributes counts custom ones only, not the agent's ecs.* and com.amazonaws.ecs.*")
    func customAttributeLimit() async throws {
        let plane = try await makeControlPlane()
        _ = try await plane.createCluster(name: nil)
        var agent = registration()
        // What an agent registers: more built-in attributes than the custom limit.
        agent.attributes =
            try (0..<8).map { try Attribute(name: "ecs.capability.feature-\($0)", value: nil) }
            + (17...24).map {
                try Attribute(name: "com.amazonaws.ecs.capability.docker-remote-api.1.\($0)", value: nil)
            }
        let instance = try await plane.registerContainerInstance(agent)
        func put(_ name: String) async throws -> [ControlPlane.TargetedAttribute] {
            try await plane.putAttributes(
                [.init(name: name, value: "v", targetType: nil, targetId: instance.containerInstanceArn)],
                cluster: nil
            )
        }
        for index in 1...10 { _ = try await put("custom-\(index)") }
        let eleventh = await #expect(throws: ClusterError.self) { try await put("custom-11") }
        #expect(eleventh?.code == .attributeLimitExceeded)
        // Replacing an existing one is not one more.
        _ = try await put("custom-3")
        for reserved in ["ecs.mine", "com.amazonaws.ecs.mine"] {
            let refused = await #expect(throws: ClusterError.self) { try await put(reserved) }
            #expect(refused?.code == .invalidParameter)
        }
        let described = try await plane.describeInstances([instance.containerInstanceArn], cluster: nil)
        let attributes = try #require(described.instances.first?.instance.attributes)
        #expect(attributes.filter { !$0.isBuiltIn }.count == 10)
        #expect(attributes.filter(\.isBuiltIn).count >= 16)
    }

    @Test("state survives a restart of the control plane on the same store; agents count as disconnected")
    func restart() async throws {
        let store = InMemoryClusterStore()
        let plane = try await makeControlPlane(store: store)
        _ = try await plane.createCluster(name: nil)
        let instance = try await plane.registerContainerInstance(registration())
        try await plane.agentConnected(instanceArn: instance.containerInstanceArn, session: RecordingSession())
        _ = try await plane.registerTaskDefinition(
            TaskDefinitionRegistration(family: "web", containerDefinitions: [container("web")])
        )
        let task = try #require(try await plane.launch(TaskLaunch(taskDefinition: "web")).tasks.first)

        let restarted = try await makeControlPlane(store: store)
        let described = try await restarted.describeTasks([task.taskArn], cluster: nil).tasks
        #expect(described == [task])
        let instanceAfter = try await restarted.describeInstances([instance.containerInstanceArn], cluster: nil)
        #expect(instanceAfter.instances.first?.instance.agentConnected == false)
        #expect(instanceAfter.instances.first?.instance.reserved.memory == 128)
    }
}
