import BerthModel
import PropertyBased
import Testing

@testable import BerthControlPlane

/// The REPLICA scheduler's plan, as a pure function: ECS's bounds hold on every step, and a rollout that
/// the bounds allow always finishes.
@Suite("Service scheduler")
struct ServiceSchedulerTests {
    static let clusterArn = "arn:aws:ecs:us-east-1:123456789012:cluster/default"

    static func deployment(_ id: String, status: String, desired: Int) -> ServiceDeployment {
        ServiceDeployment(
            id: id,
            status: status,
            taskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:\(id.count)",
            desiredCount: desired,
            pendingCount: 0,
            runningCount: 0,
            failedTasks: 0,
            createdAt: Timestamp(secondsSinceEpoch: 0),
            updatedAt: Timestamp(secondsSinceEpoch: 0),
            rolloutState: .inProgress,
            rolloutStateReason: ""
        )
    }

    static func service(desired: Int, maximum: Int, minimum: Int, deployments: [ServiceDeployment]) -> ClusterService {
        ClusterService(
            serviceArn: "arn:aws:ecs:us-east-1:123456789012:service/default/web",
            serviceName: "web",
            clusterArn: clusterArn,
            status: .active,
            desiredCount: desired,
            taskDefinition: deployments[0].taskDefinition,
            schedulingStrategy: .replica,
            deploymentConfiguration: DeploymentConfiguration(maximumPercent: maximum, minimumHealthyPercent: minimum),
            placementConstraints: [],
            placementStrategy: [],
            deployments: deployments,
            events: [],
            tags: [],
            createdAt: Timestamp(secondsSinceEpoch: 0),
            steady: false,
            runningCount: 0,
            pendingCount: 0
        )
    }

    static func task(_ number: Int, deployment: String, running: Bool) -> ClusterTask {
        ClusterTask(
            taskArn: "arn:aws:ecs:us-east-1:123456789012:task/default/\(number)",
            clusterArn: clusterArn,
            taskDefinitionArn: "td",
            containerInstanceArn: "ci",
            family: "web",
            revision: 1,
            lastStatus: running ? "RUNNING" : "PENDING",
            desiredStatus: .running,
            containers: [],
            overrides: TaskOverride(),
            group: "service:web",
            startedBy: deployment,
            tags: [],
            createdAt: Timestamp(secondsSinceEpoch: Double(number)),
            version: 1,
            reservation: Reservation(),
            lastSequence: 0
        )
    }

    @Test("ECS's worked cases: desired 4 at 50% may stop 2 first; at 200% may start 4 first; 125% of 3 starts none")
    func workedCases() {
        let old = Self.deployment("ecs-svc/old", status: "ACTIVE", desired: 4)
        let new = Self.deployment("ecs-svc/new", status: "PRIMARY", desired: 4)
        let running = (1...4).map { Self.task($0, deployment: old.id, running: true) }
        let halfFloor = ServiceScheduler.plan(
            Self.service(desired: 4, maximum: 100, minimum: 50, deployments: [new, old]),
            tasks: running,
            now: Timestamp(secondsSinceEpoch: 10)
        )
        #expect(halfFloor.stops.count == 2)
        #expect(halfFloor.starts.isEmpty, "the two stopped still hold their places until they have STOPPED")
        let freed = running.map { task in
            var task = task
            if halfFloor.stops.contains(where: { $0.taskArn == task.taskArn }) { task.lastStatus = "STOPPED" }
            return task
        }
        let afterStops = ServiceScheduler.plan(halfFloor.service, tasks: freed, now: Timestamp(secondsSinceEpoch: 11))
        #expect(afterStops.starts.map(\.count) == [2])
        let doubleCeiling = ServiceScheduler.plan(
            Self.service(desired: 4, maximum: 200, minimum: 100, deployments: [new, old]),
            tasks: running,
            now: Timestamp(secondsSinceEpoch: 10)
        )
        #expect(doubleCeiling.stops.isEmpty)
        #expect(doubleCeiling.starts.map(\.count) == [4])
        let three = (1...3).map { Self.task($0, deployment: old.id, running: true) }
        let tight = ServiceScheduler.plan(
            Self.service(desired: 3, maximum: 125, minimum: 100, deployments: [new, old]),
            tasks: three,
            now: Timestamp(secondsSinceEpoch: 10)
        )
        #expect(tight.starts.isEmpty && tight.stops.isEmpty)
        #expect(tight.stuck)
    }

    @Test("an older deployment stays, and its RUNNING tasks count, until they have STOPPED: stable means gone")
    func stoppingTasksCount() {
        let old = Self.deployment("ecs-svc/old", status: "ACTIVE", desired: 2)
        let new = Self.deployment("ecs-svc/new", status: "PRIMARY", desired: 2)
        let service = Self.service(desired: 2, maximum: 200, minimum: 100, deployments: [new, old])
        var tasks = (1...2).map { Self.task($0, deployment: new.id, running: true) }
        var stopping = Self.task(3, deployment: old.id, running: true)
        stopping.desiredStatus = .stopped
        stopping.stopCode = .serviceSchedulerInitiated
        tasks.append(stopping)
        let waiting = ServiceScheduler.plan(service, tasks: tasks, now: Timestamp(secondsSinceEpoch: 1))
        #expect(waiting.stops.isEmpty && waiting.starts.isEmpty)
        #expect(waiting.service.deployments.map(\.id) == [new.id, old.id])
        #expect(waiting.service.deployments.last?.runningCount == 1)
        #expect(waiting.service.runningCount == 3)
        #expect(!waiting.steady && !waiting.stuck)
        #expect(waiting.service.primary?.rolloutState == .inProgress)

        tasks[2].lastStatus = "STOPPED"
        let done = ServiceScheduler.plan(waiting.service, tasks: tasks, now: Timestamp(secondsSinceEpoch: 2))
        #expect(done.service.deployments.map(\.id) == [new.id])
        #expect(done.service.runningCount == 2)
        #expect(done.steady)
        #expect(done.service.primary?.rolloutState == .completed)
    }

    @Test("an UNHEALTHY task is stopped as failing its health checks and replaced; UNKNOWN health is not yet healthy")
    func unhealthyReplaced() {
        let primary = Self.deployment("ecs-svc/p", status: "PRIMARY", desired: 2)
        var sick = Self.task(1, deployment: primary.id, running: true)
        sick.healthStatus = .unhealthy
        var starting = Self.task(2, deployment: primary.id, running: true)
        starting.healthStatus = .unknown
        let plan = ServiceScheduler.plan(
            Self.service(desired: 2, maximum: 200, minimum: 100, deployments: [primary]),
            tasks: [sick, starting],
            now: Timestamp(secondsSinceEpoch: 1)
        )
        #expect(
            plan.stops == [ServiceScheduler.Stop(taskArn: sick.taskArn, reason: "Task failed container health checks")]
        )
        #expect(plan.starts.map(\.count) == [1])
        #expect(plan.service.deployments.first?.rolloutState == .inProgress, "not steady while health is unknown")
    }

    @Test("tasks on a DRAINING instance are replaced within the bounds: new ones first at 200%/100%")
    func draining() {
        let primary = Self.deployment("ecs-svc/p", status: "PRIMARY", desired: 2)
        var tasks = (1...2).map { number in
            var task = Self.task(number, deployment: primary.id, running: true)
            task.containerInstanceArn = "draining"
            return task
        }
        let service = Self.service(desired: 2, maximum: 200, minimum: 100, deployments: [primary])
        let first = ServiceScheduler.plan(
            service,
            tasks: tasks,
            drainingInstances: ["draining"],
            now: Timestamp(secondsSinceEpoch: 1)
        )
        #expect(first.stops.isEmpty)
        #expect(first.starts.map(\.count) == [2])
        tasks += (3...4).map { Self.task($0, deployment: primary.id, running: true) }
        let second = ServiceScheduler.plan(
            first.service,
            tasks: tasks,
            drainingInstances: ["draining"],
            now: Timestamp(secondsSinceEpoch: 2)
        )
        #expect(Set(second.stops.map(\.taskArn)) == Set(tasks.prefix(2).map(\.taskArn)))
        #expect(second.starts.isEmpty)
    }

    @Test("the circuit breaker fails a deployment at the threshold and rolls back to the last completed revision")
    func circuitBreaker() {
        #expect(ServiceScheduler.failureThreshold(desired: 1) == 3)
        #expect(ServiceScheduler.failureThreshold(desired: 10) == 5)
        #expect(ServiceScheduler.failureThreshold(desired: 1000) == 200)
        let primary = Self.deployment("ecs-svc/p", status: "PRIMARY", desired: 3)
        var service = Self.service(desired: 3, maximum: 200, minimum: 100, deployments: [primary])
        service.deploymentConfiguration.deploymentCircuitBreaker = .init(enable: true, rollback: true)
        service.lastCompletedTaskDefinition = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
        let failed = (1...3).map { number in
            var task = Self.task(number, deployment: primary.id, running: false)
            task.lastStatus = "STOPPED"
            task.stopCode = .essentialContainerExited
            return task
        }
        let plan = ServiceScheduler.plan(service, tasks: failed, now: Timestamp(secondsSinceEpoch: 1))
        #expect(plan.service.primary?.rolloutState == .failed)
        #expect(plan.service.primary?.rolloutStateReason == "ECS deployment circuit breaker: tasks failed to start.")
        #expect(plan.service.rollback == "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1")
        #expect(plan.starts.isEmpty, "a FAILED deployment launches nothing")
        #expect(plan.news.contains("(deployment ecs-svc/p) deployment failed: tasks failed to start."))
    }

    @Test("tasks that keep failing to start get a growing restart delay, with ECS's event")
    func restartDelay() {
        #expect(ServiceScheduler.restartDelay(failures: 2) == 0)
        #expect(ServiceScheduler.restartDelay(failures: 3) == 10)
        #expect(ServiceScheduler.restartDelay(failures: 4) == 20)
        #expect(ServiceScheduler.restartDelay(failures: 40) == 900)
        let primary = Self.deployment("ecs-svc/p", status: "PRIMARY", desired: 1)
        let failed = (1...3).map { number in
            var task = Self.task(number, deployment: primary.id, running: false)
            task.lastStatus = "STOPPED"
            task.stopCode = .taskFailedToStart
            return task
        }
        let plan = ServiceScheduler.plan(
            Self.service(desired: 1, maximum: 200, minimum: 100, deployments: [primary]),
            tasks: failed,
            now: Timestamp(secondsSinceEpoch: 100)
        )
        #expect(plan.starts.isEmpty, "waits before starting again")
        #expect(plan.service.restartNotBefore == Timestamp(secondsSinceEpoch: 110))
        #expect(plan.news.contains { $0.hasPrefix("is unable to consistently start tasks successfully.") })
        let later = ServiceScheduler.plan(plan.service, tasks: failed, now: Timestamp(secondsSinceEpoch: 111))
        #expect(later.starts.map(\.count) == [1])
    }

    @Test("DAEMON: one task per eligible instance; a new revision replaces each once the old one has stopped")
    func daemon() {
        let old = Self.deployment("ecs-svc/old", status: "ACTIVE", desired: 2)
        let new = Self.deployment("ecs-svc/new", status: "PRIMARY", desired: 2)
        var service = Self.service(desired: 0, maximum: 100, minimum: 0, deployments: [new])
        service.schedulingStrategy = .daemon
        let empty = ServiceScheduler.plan(
            service,
            tasks: [],
            eligibleInstances: ["a", "b"],
            now: Timestamp(secondsSinceEpoch: 1)
        )
        #expect(empty.service.desiredCount == 2)
        #expect(
            empty.starts == [
                ServiceScheduler.Start(
                    deployment: new.id,
                    taskDefinition: new.taskDefinition,
                    count: 2,
                    instances: ["a", "b"]
                )
            ]
        )

        service.deployments = [new, old]
        var onA = Self.task(1, deployment: old.id, running: true)
        onA.containerInstanceArn = "a"
        var onGone = Self.task(2, deployment: new.id, running: true)
        onGone.containerInstanceArn = "gone"
        let rolling = ServiceScheduler.plan(
            service,
            tasks: [onA, onGone],
            eligibleInstances: ["a", "b"],
            now: Timestamp(secondsSinceEpoch: 2)
        )
        #expect(Set(rolling.stops.map(\.taskArn)) == [onA.taskArn, onGone.taskArn])
        // "a" is free only once its old task has stopped; "b" is free now.
        #expect(rolling.starts.map(\.instances) == [["b"]])
        #expect(!rolling.stuck)
    }

    @Test(
        "every step keeps RUNNING at or above the floor and tasks not yet STOPPED under the ceiling; rollouts the bounds allow finish"
    )
    func boundsAndProgress() async {
        let scenarios = Gen.int(in: 0...1_000_000).array(of: 6...6)
        await propertyCheck(count: 200, input: scenarios) { numbers in
            let desired = numbers[0] % 9
            let maximum = [100, 125, 150, 200][numbers[1] % 4]
            let minimum = [0, 50, 75, 100][numbers[2] % 4]
            let oldCount = numbers[3] % 3
            var deployments = [Self.deployment("ecs-svc/p", status: "PRIMARY", desired: desired)]
            for index in 0..<oldCount {
                deployments.append(Self.deployment("ecs-svc/o\(index)", status: "ACTIVE", desired: desired))
            }
            var service = Self.service(desired: desired, maximum: maximum, minimum: minimum, deployments: deployments)
            var tasks: [ClusterTask] = []
            var next = 1
            for index in 0..<(numbers[4] % 10) {
                let deployment = deployments[(numbers[5] + index) % deployments.count].id
                tasks.append(Self.task(next, deployment: deployment, running: (numbers[5] >> index) & 1 == 0))
                next += 1
            }
            let floor = service.deploymentConfiguration.minimumHealthyTasks(desired: desired)
            let ceiling = service.deploymentConfiguration.maximumTasks(desired: desired)
            // A task told to stop keeps running for a step (`stopDelay` steps), as its containers take time.
            let stopDelay = numbers[5] % 3
            var toldToStopAt: [String: Int] = [:]
            let wanted: (ClusterTask) -> Bool = { $0.desiredStatus == .running && $0.lastStatus == "RUNNING" }
            for step in 0..<40 {
                let plan = ServiceScheduler.plan(service, tasks: tasks, now: Timestamp(secondsSinceEpoch: Double(step)))
                let runningBefore = tasks.filter(wanted).count
                for index in tasks.indices where plan.stops.contains(where: { $0.taskArn == tasks[index].taskArn }) {
                    #expect(tasks[index].desiredStatus == .running, "a task is told to stop once")
                    tasks[index].desiredStatus = .stopped
                    tasks[index].stopCode = .serviceSchedulerInitiated
                    toldToStopAt[tasks[index].taskArn] = step
                }
                let runningAfter = tasks.filter(wanted).count
                #expect(runningAfter >= min(runningBefore, floor), "stops broke the floor at step \(step)")
                let starts = plan.starts.reduce(0) { $0 + $1.count }
                let present = tasks.filter { $0.lastStatus != "STOPPED" }.count
                if starts > 0 { #expect(present + starts <= ceiling, "starts broke the ceiling at step \(step)") }
                // What was pending is now RUNNING, what stopped long enough ago is STOPPED; what was started
                // is pending.
                for index in tasks.indices where tasks[index].lastStatus != "STOPPED" {
                    let stopping = toldToStopAt[tasks[index].taskArn].map { step - $0 >= stopDelay }
                    tasks[index].lastStatus = stopping == true ? "STOPPED" : "RUNNING"
                }
                for start in plan.starts {
                    for _ in 0..<start.count {
                        tasks.append(Self.task(next, deployment: start.deployment, running: false))
                        next += 1
                    }
                }
                service = plan.service
                if plan.stuck { break }
            }
            let final = ServiceScheduler.plan(service, tasks: tasks, now: Timestamp(secondsSinceEpoch: 100))
            if final.stuck {
                // Only when the bounds leave no room: the floor (rounded up) reaches the ceiling (rounded down).
                #expect(floor >= ceiling, "stuck with room to move: \(numbers)")
            } else {
                #expect(final.service.deployments.count == 1, "old deployments left: \(numbers)")
                #expect(
                    final.service.runningCount == desired,
                    "running \(final.service.runningCount) of \(desired): \(numbers)"
                )
                #expect(final.service.deployments.first?.rolloutState == .completed)
            }
        }
    }
}
