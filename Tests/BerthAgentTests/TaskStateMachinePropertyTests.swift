import BerthAgent
import BerthModel
import PropertyBased
import Testing

/// Random tasks (any dependency graph without cycles, any essential flags) driven through random
/// interleavings of Docker answers, failures, exits, stop requests, acknowledgements and time.
@Suite("Task state machine: invariants")
struct TaskStateMachinePropertyTests {
    /// Reads a script of random numbers as choices.
    struct Script {
        var numbers: [Int]
        var position = 0

        mutating func next(_ bound: Int) -> Int {
            guard bound > 0, !numbers.isEmpty else { return 0 }
            defer { position += 1 }
            return numbers[position % numbers.count] % bound
        }

        var exhausted: Bool { position >= numbers.count }
    }

    /// A task of 1 to 4 containers where each may depend on earlier ones, by link, volumesFrom or dependsOn.
    static func task(_ script: inout Script) -> TaskPayload {
        let count = 1 + script.next(4)
        var containers: [ContainerDefinition] = []
        let conditions: [ContainerCondition] = [.start, .complete, .success, .create]
        for index in 0..<count {
            var definition = ContainerDefinition(name: "c\(index)", image: "busybox")
            definition.essential = index == count - 1 || script.next(2) == 0
            for target in 0..<index where script.next(3) == 0 {
                switch script.next(3) {
                case 0: definition.links = (definition.links ?? []) + ["c\(target):alias\(target)"]
                case 1:
                    definition.volumesFrom =
                        (definition.volumesFrom ?? []) + [VolumeFrom(sourceContainer: "c\(target)")]
                default:
                    let condition = conditions[script.next(conditions.count)]
                    definition.dependsOn =
                        (definition.dependsOn ?? []) + [
                            ContainerDependency(containerName: "c\(target)", condition: condition)
                        ]
                }
            }
            containers.append(definition)
        }
        return TaskStateMachineTests.payload(containers)
    }

    static let scripts = Gen.int(in: 0...1_000_000).array(of: 20...160)

    @Test(
        "statuses only move forward, calls respect the ordering, essential exits stop the task, reports stay in order"
    )
    func invariantsHold() async {
        await propertyCheck(count: 400, input: Self.scripts) { numbers in
            var script = Script(numbers: numbers)
            var simulation = TaskSimulation(payload: Self.task(&script))
            simulation.admit()
            var stopRequested = false
            var failureInjected = false
            while !script.exhausted {
                switch script.next(10) {
                case 0...3 where !simulation.inFlight.isEmpty:
                    simulation.succeed(script.next(simulation.inFlight.count), exitCode: script.next(2))
                case 4 where !simulation.inFlight.isEmpty:
                    failureInjected = true
                    simulation.fail(script.next(simulation.inFlight.count))
                case 5:
                    let running = simulation.record.containers.filter { $0.knownStatus == .running }
                    if !running.isEmpty {
                        let container = running[script.next(running.count)]
                        simulation.exit(container.name, code: script.next(3))
                    }
                case 6 where script.next(4) == 0:
                    stopRequested = true
                    simulation.apply(.stopRequested(reason: "random", code: .userInitiated))
                case 7:
                    simulation.acknowledgeAll()
                default:
                    simulation.advance(seconds: Double(script.next(40)))
                }
            }
            #expect(simulation.violations.isEmpty, "\(simulation.violations)")

            // Whatever happened, a task nobody stopped and whose essential containers all run keeps running.
            let essentialStopped = simulation.record.containers.contains {
                $0.knownStatus == .stopped && simulation.record.definition(of: $0.name)!.isEssential
            }
            if !stopRequested, !failureInjected, !essentialStopped {
                #expect(simulation.record.desiredStatus == .running)
            }

            // Then it is stopped and left to finish: it reaches STOPPED, every container with it, and is
            // cleaned up exactly once.
            simulation.apply(.stopRequested(reason: "end", code: .userInitiated))
            for _ in 0..<20 {
                simulation.settleCalls(exitCode: 0)
                simulation.acknowledgeAll()
                simulation.advance(seconds: 700)
            }
            simulation.settleCalls()
            #expect(simulation.record.knownStatus == .stopped)
            #expect(simulation.record.containers.allSatisfy { $0.knownStatus == .stopped })
            #expect(simulation.record.cleanedUp)
            // Once, plus once more for each clean-up that failed: never again after one succeeded.
            #expect(simulation.actions.filter { $0 == .cleanUp }.count == simulation.failedCleanups + 1)
            #expect(simulation.reported.last?.status == .stopped)
            #expect(simulation.violations.isEmpty, "\(simulation.violations)")
        }
    }

    @Test("a container is created at most once, under one name, and started at most once")
    func noDuplicateContainers() async {
        await propertyCheck(count: 300, input: Self.scripts) { numbers in
            var script = Script(numbers: numbers)
            var simulation = TaskSimulation(payload: Self.task(&script))
            simulation.admit()
            while !script.exhausted {
                if simulation.inFlight.isEmpty {
                    simulation.advance(seconds: Double(script.next(20)))
                    if simulation.inFlight.isEmpty { break }
                }
                let index = script.next(simulation.inFlight.count)
                if script.next(5) == 0 { simulation.fail(index) } else { simulation.succeed(index) }
            }
            var creates: [String: Int] = [:]
            var starts: [String: Int] = [:]
            for action in simulation.actions {
                if case .create(let name) = action { creates[name, default: 0] += 1 }
                if case .start(let name, _) = action { starts[name, default: 0] += 1 }
            }
            #expect(creates.values.allSatisfy { $0 == 1 }, "\(creates)")
            #expect(starts.values.allSatisfy { $0 == 1 }, "\(starts)")
            #expect(simulation.violations.isEmpty, "\(simulation.violations)")
        }
    }
}
