import BerthAgent
import BerthModel
import Testing

@Suite("Task state machine")
struct TaskStateMachineTests {
    static func payload(_ containers: [ContainerDefinition], volumes: [Volume] = []) -> TaskPayload {
        TaskPayload(
            taskArn: "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef",
            clusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/default",
            family: "web",
            revision: 3,
            containers: containers,
            volumes: volumes
        )
    }

    static func container(
        _ name: String,
        essential: Bool = true,
        links: [String]? = nil,
        dependsOn: [ContainerDependency]? = nil,
        startTimeout: Int? = nil
    ) -> ContainerDefinition {
        var definition = ContainerDefinition(name: name, image: "busybox")
        definition.essential = essential
        definition.links = links
        definition.dependsOn = dependsOn
        definition.startTimeout = startTimeout
        return definition
    }

    @Test("nothing touches Docker until the host's resources are granted")
    func waitsForAdmission() {
        var simulation = TaskSimulation(payload: Self.payload([Self.container("app")]))
        simulation.advance(seconds: 30)
        #expect(simulation.actions.isEmpty)
        #expect(simulation.record.knownStatus == .none)
        simulation.admit()
        #expect(simulation.actions == [.pull(container: "app", image: "busybox")])
    }

    @Test("one container: pulled, created under its ECS name, started, reported RUNNING, then STOPPED")
    func oneContainerLifecycle() throws {
        var simulation = TaskSimulation(payload: Self.payload([Self.container("app")]))
        simulation.admit()
        simulation.settleCalls()
        #expect(simulation.record.knownStatus == .running)
        #expect(simulation.container("app").dockerName == "ecs-web-3-app-5eed")
        #expect(simulation.reported.map(\.status) == [.running])
        #expect(simulation.reported.first?.containers.first?.runtimeId == "id1")

        simulation.exit("app", code: 3)
        #expect(simulation.record.knownStatus == .stopped)
        let last = try #require(simulation.reported.last)
        #expect(last.status == .stopped)
        #expect(last.stopCode == .essentialContainerExited)
        #expect(last.reason == "Essential container in task exited")
        #expect(last.containers.first?.exitCode == 3)
        #expect(simulation.violations.isEmpty, "\(simulation.violations)")
    }

    @Test("a non-essential container's exit leaves the task running; an essential one's stops the others")
    func essentialRule() {
        var simulation = TaskSimulation(
            payload: Self.payload([Self.container("app"), Self.container("sidecar", essential: false)])
        )
        simulation.admit()
        simulation.settleCalls()
        simulation.exit("sidecar", code: 1)
        #expect(simulation.record.desiredStatus == .running)
        #expect(simulation.record.knownStatus == .running)
        #expect(simulation.container("sidecar").knownStatus == .stopped)

        simulation.exit("app", code: 0)
        #expect(simulation.record.desiredStatus == .stopped)
        #expect(simulation.record.stopCode == .essentialContainerExited)
        #expect(simulation.record.knownStatus == .stopped)
        #expect(simulation.violations.isEmpty, "\(simulation.violations)")
    }

    @Test("dependsOn SUCCESS: the dependent starts after a zero exit, and fails with the reason after another")
    func dependsOnSuccess() throws {
        let containers = [
            Self.container("migrate", essential: false),
            Self.container("app", dependsOn: [ContainerDependency(containerName: "migrate", condition: .success)]),
        ]
        var passing = TaskSimulation(payload: Self.payload(containers))
        passing.admit()
        passing.settleCalls()
        #expect(passing.container("migrate").knownStatus == .running)
        #expect(passing.container("app").knownStatus == .pulled)
        passing.exit("migrate", code: 0)
        passing.settleCalls()
        #expect(passing.container("app").knownStatus == .running)
        #expect(passing.record.knownStatus == .running)
        #expect(passing.violations.isEmpty, "\(passing.violations)")

        var failing = TaskSimulation(payload: Self.payload(containers))
        failing.admit()
        failing.settleCalls()
        failing.exit("migrate", code: 2)
        failing.settleCalls()
        let app = failing.container("app")
        #expect(app.knownStatus == .stopped)
        #expect(app.dockerID == nil)
        let reason = try #require(app.reason)
        #expect(reason.hasPrefix("CannotStartContainerError: dependency 'migrate' (SUCCESS) cannot be met"))
        #expect(reason.contains("exited with code 2"))
        #expect(failing.record.knownStatus == .stopped)
        #expect(failing.record.stopCode == .taskFailedToStart)
        #expect(failing.violations.isEmpty, "\(failing.violations)")
    }

    @Test("a dependency not met within its startTimeout stops the waiting container with the reason")
    func startTimeout() throws {
        var database = Self.container("db", essential: false, startTimeout: 10)
        database.healthCheck = HealthCheck(command: ["CMD", "true"])
        let containers = [
            database,
            Self.container("app", dependsOn: [ContainerDependency(containerName: "db", condition: .healthy)]),
        ]
        var simulation = TaskSimulation(payload: Self.payload(containers))
        simulation.admit()
        simulation.settleCalls()
        #expect(simulation.container("app").knownStatus == .pulled)
        simulation.advance(seconds: 5)
        #expect(simulation.container("app").knownStatus == .pulled)
        simulation.advance(seconds: 6)
        let reason = try #require(simulation.container("app").reason)
        #expect(reason.contains("startTimeout of 10s"))
        #expect(simulation.record.desiredStatus == .stopped)
        simulation.settleCalls()
        #expect(simulation.record.knownStatus == .stopped)
        #expect(simulation.violations.isEmpty, "\(simulation.violations)")
    }

    @Test("links start the target first and stop it last")
    func linkOrdering() throws {
        var simulation = TaskSimulation(
            payload: Self.payload([Self.container("web", links: ["db:database"]), Self.container("db")])
        )
        simulation.admit()
        simulation.settleCalls()
        #expect(simulation.record.knownStatus == .running)
        let starts = simulation.actions.compactMap { action -> String? in
            if case .start(let name, _) = action { return name }
            return nil
        }
        #expect(starts == ["db", "web"])

        simulation.apply(.stopRequested(reason: "scale down", code: .userInitiated))
        let stops = simulation.inFlight.compactMap { action -> String? in
            if case .stop(let name, _, _) = action { return name }
            return nil
        }
        #expect(stops == ["web"])
        simulation.settleCalls()
        #expect(simulation.record.knownStatus == .stopped)
        #expect(simulation.record.stoppedReason == "scale down")
        #expect(simulation.violations.isEmpty, "\(simulation.violations)")
    }

    @Test("a dependency cycle is refused before anything is done")
    func cycleRefused() throws {
        var simulation = TaskSimulation(
            payload: Self.payload([Self.container("a", links: ["b"]), Self.container("b", links: ["a"])])
        )
        simulation.admit()
        #expect(simulation.actions.isEmpty)
        #expect(simulation.record.knownStatus == .stopped)
        let reason = try #require(simulation.record.stoppedReason)
        #expect(reason.hasPrefix("TaskDependencyError:"))
        #expect(simulation.reported.last?.status == .stopped)
    }

    @Test(
        "an executable, working directory or user too long to name anything is refused before Docker sees it (runc hangs on its error)"
    )
    func overlongNamesRefused() throws {
        let long = String(repeating: "z", count: 70_000)
        var command = Self.container("a")
        command.command = [long]
        var entryPoint = Self.container("a")
        entryPoint.entryPoint = [String(repeating: "/x", count: 2049)]
        var directory = Self.container("a")
        directory.workingDirectory = "/" + long
        var user = Self.container("a")
        user.user = long
        for container in [command, entryPoint, directory, user] {
            var simulation = TaskSimulation(payload: Self.payload([container]))
            simulation.admit()
            #expect(simulation.actions.isEmpty)
            let reason = try #require(simulation.record.stoppedReason)
            #expect(reason.hasPrefix("CannotCreateContainerError: container 'a'"), "\(reason.prefix(200))")
        }
        var fine = Self.container("a")
        fine.command = [String(repeating: "/x", count: 2048), long]
        var simulation = TaskSimulation(payload: Self.payload([fine]))
        simulation.admit()
        #expect(simulation.record.stoppedReason == nil)
    }

    @Test("containers are removed only once STOPPED is acknowledged and the cleanup wait has passed")
    func cleanupAfterAcknowledgement() {
        var simulation = TaskSimulation(payload: Self.payload([Self.container("app")]))
        simulation.admit()
        simulation.settleCalls()
        simulation.exit("app", code: 0)
        simulation.advance(seconds: 300)
        #expect(!simulation.actions.contains(.cleanUp))
        simulation.acknowledgeAll()
        #expect(simulation.record.outbox.isEmpty)
        simulation.advance(seconds: 200)
        #expect(!simulation.actions.contains(.cleanUp))
        #expect(simulation.record.nextDeadline(at: simulation.now) != nil)
        simulation.advance(seconds: 101)
        #expect(simulation.actions.filter { $0 == .cleanUp }.count == 1)
        simulation.settleCalls()
        #expect(simulation.record.cleanedUp)
        #expect(simulation.violations.isEmpty, "\(simulation.violations)")
    }

    @Test("a failed stop is retried after the retry delay, and statuses never go back")
    func stopRetried() {
        var simulation = TaskSimulation(payload: Self.payload([Self.container("app")]))
        simulation.admit()
        simulation.settleCalls()
        simulation.apply(.stopRequested(reason: nil, code: nil))
        simulation.fail(0)
        #expect(simulation.inFlight.isEmpty)
        #expect(simulation.record.knownStatus == .running)
        simulation.advance(seconds: 6)
        #expect(simulation.inFlight.count == 1)
        simulation.settleCalls()
        #expect(simulation.record.knownStatus == .stopped)
        #expect(simulation.record.stopCode == .userInitiated)
        #expect(simulation.violations.isEmpty, "\(simulation.violations)")
    }
}

extension TaskRecord {
    func nextDeadline(at now: Timestamp) -> Timestamp? {
        TaskStateMachine(record: self, policy: .init(cleanupWait: .seconds(600)), makeSuffix: { "5eed" })
            .nextDeadline(at: now)
    }
}
