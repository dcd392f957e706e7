import BerthModel
import BerthTestSupport
import Testing

@testable import BerthControlPlane

/// The control plane's indexes answer exactly what a scan of every record would.
@Suite("Indexed records")
struct IndexedRecordsTests {
    static func task(_ number: Int, using random: inout SeededRandom) -> ClusterTask {
        let cluster = "arn:aws:ecs:us-east-1:1:cluster/c\(Int.random(in: 0..<3, using: &random))"
        let instance = "arn:aws:ecs:us-east-1:1:container-instance/i\(Int.random(in: 0..<5, using: &random))"
        return ClusterTask(
            taskArn: "arn:aws:ecs:us-east-1:1:task/t\(number)",
            clusterArn: cluster,
            taskDefinitionArn: "arn:aws:ecs:us-east-1:1:task-definition/app:1",
            containerInstanceArn: instance,
            family: "app",
            revision: 1,
            lastStatus: ["PENDING", "RUNNING", "STOPPED"].randomElement(using: &random) ?? "PENDING",
            desiredStatus: Bool.random(using: &random) ? .running : .stopped,
            containers: [],
            overrides: TaskOverride(),
            group: ["service:a", "service:b", "family:app"].randomElement(using: &random) ?? "family:app",
            startedBy: nil,
            cpu: nil,
            memory: nil,
            tags: [],
            createdAt: Timestamp(secondsSinceEpoch: Double(number)),
            version: 1,
            reservation: Reservation(cpu: 0, memory: 0),
            acknowledgedDesiredStatus: nil,
            lastSequence: 0
        )
    }

    @Test("after any sequence of writes, rewrites and removals, every posting is what a scan finds")
    func postingsMatchAScan() {
        var random = SeededRandom.make("IndexedRecordsTests.postingsMatchAScan")
        var table = IndexedRecords<ClusterTask, TaskIndex>(indexedBy: TaskIndex.keys(of:))
        var truth: [String: ClusterTask] = [:]
        for step in 0..<2000 {
            let number = Int.random(in: 0..<60, using: &random)
            let arn = "arn:aws:ecs:us-east-1:1:task/t\(number)"
            if Int.random(in: 0..<4, using: &random) == 0 {
                table[arn] = nil
                truth[arn] = nil
            } else if var existing = table[arn]?.value, Bool.random(using: &random) {
                // A change in place, as the control plane makes them (`tasks[arn]?.value.x = y`).
                existing.lastStatus = "STOPPED"
                existing.desiredStatus = .stopped
                table[arn]?.value = existing
                truth[arn] = existing
            } else {
                let task = Self.task(number, using: &random)
                table[arn] = ControlPlane.Versioned(value: task, version: Int64(step))
                truth[arn] = task
            }
        }
        #expect(table.count == truth.count)
        // Every record is found by its key and listed once, whichever slot a removal left it to reuse.
        for (arn, task) in truth { #expect(table[arn]?.value.taskArn == task.taskArn, "\(arn)") }
        let listed = table.records.map(\.key)
        #expect(listed.count == truth.count && Set(listed) == Set(truth.keys))
        #expect(Set(table.values.map(\.value.taskArn)) == Set(truth.keys))
        var expected: [TaskIndex: Set<String>] = [:]
        for task in truth.values {
            for key in TaskIndex.keys(of: task) { expected[key, default: []].insert(task.taskArn) }
        }
        let clusters = (0..<3).map { "arn:aws:ecs:us-east-1:1:cluster/c\($0)" }
        let instances = (0..<5).map { "arn:aws:ecs:us-east-1:1:container-instance/i\($0)" }
        var every: [TaskIndex] = []
        for cluster in clusters {
            every += [.cluster(cluster), .liveInCluster(cluster), .clusterDesired(cluster, .running)]
            every += [.clusterDesired(cluster, .stopped)]
            every += ["service:a", "service:b", "family:app"].map { TaskIndex.group(cluster: cluster, group: $0) }
        }
        for instance in instances {
            every += [.instance(instance), .liveOnInstance(instance), .runningOnInstance(instance)]
            every += ["service:a", "service:b", "family:app"].map {
                TaskIndex.liveGroupOnInstance(instance: instance, group: $0)
            }
        }
        for index in every {
            #expect(Set(table.keys(index)) == expected[index] ?? [], "\(index)")
            #expect(table.keys(index).count == table.count(index), "\(index)")
            #expect(table.count(index) == expected[index]?.count ?? 0, "\(index)")
            #expect(Set(table.values(index).map(\.taskArn)) == expected[index] ?? [], "\(index)")
        }
        // Scans as the control plane made them before the indexes.
        for cluster in clusters {
            let live = truth.values.filter { $0.clusterArn == cluster && !$0.isStopped }.map(\.taskArn)
            #expect(Set(table.keys(.liveInCluster(cluster))) == Set(live))
        }
    }

    @Test("a family's latest ACTIVE revision follows deregistration")
    func latestActiveRevision() {
        var table = IndexedRecords<TaskDefinition, DefinitionIndex>(indexedBy: DefinitionIndex.keys(of:))
        for revision in 1...3 {
            let definition = TaskDefinition(
                taskDefinitionArn: "arn:aws:ecs:us-east-1:1:task-definition/app:\(revision)",
                family: "app",
                revision: revision,
                status: .active,
                containerDefinitions: [],
                volumes: [],
                networkMode: nil,
                cpu: nil,
                memory: nil,
                placementConstraints: [],
                requiresCompatibilities: nil,
                taskRoleArn: nil,
                executionRoleArn: nil,
                tags: [],
                registeredAt: Timestamp(secondsSinceEpoch: 0)
            )
            table[definition.key] = ControlPlane.Versioned(value: definition, version: 1)
        }
        #expect(table.values(.activeFamily("app")).map(\.revision).max() == 3)
        table["app:3"]?.value.status = .inactive
        #expect(table.values(.activeFamily("app")).map(\.revision).max() == 2)
        #expect(table.count(.family("app")) == 3)
        table["app:3"] = nil
        #expect(table.count(.family("app")) == 2)
    }
}
