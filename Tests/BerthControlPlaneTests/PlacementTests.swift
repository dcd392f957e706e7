import BerthControlPlane
import BerthModel
import BerthTestSupport
import Foundation
import Testing

@Suite("Placement and the cluster query language")
struct PlacementTests {
    static func instance(
        _ id: String,
        cpu: Int = 1024,
        memory: Int = 1024,
        reserved: Reservation = Reservation(),
        attributes: [String: String] = [:],
        connected: Bool = true
    ) throws -> ContainerInstance {
        let decoded: [String: Any] = [
            "containerInstanceArn": "arn:aws:ecs:us-east-1:123456789012:container-instance/c/\(id)",
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c",
            "ec2InstanceId": "i-\(id)",
            "status": "ACTIVE",
            "agentConnected": connected,
            "registeredResources": [
                ["name": "CPU", "type": "INTEGER", "integerValue": cpu],
                ["name": "MEMORY", "type": "INTEGER", "integerValue": memory],
                ["name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]],
                ["name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": [String]()],
            ],
            "reserved": [
                "cpu": reserved.cpu, "memory": reserved.memory, "ports": Array(reserved.ports),
                "portsUDP": Array(reserved.portsUDP),
            ],
            "attributes": attributes.map { ["name": $0.key, "value": $0.value] },
            "versionInfo": ["agentVersion": "1.0"],
            "tags": [Any](),
            "registeredAt": 1_700_000_000,
            "version": 1,
        ]
        let data = try JSONSerialization.data(withJSONObject: decoded)
        return try JSONDecoder().decode(ContainerInstance.self, from: data)
    }

    static func candidates(_ instances: [ContainerInstance]) -> [Placement.Candidate] {
        instances.map { Placement.Candidate(instance: $0, taskGroups: [:], runningTasks: 0) }
    }

    @Test("binpack by memory fills the fullest instance that still fits; spread by instanceId alternates")
    func strategies() throws {
        let full = try Self.instance("a", memory: 1024, reserved: Reservation(memory: 700))
        let empty = try Self.instance("b", memory: 1024)
        var generator = SystemRandomNumberGenerator()
        let binpack = Placement.place(
            count: 2,
            demand: Reservation(memory: 100),
            group: "g",
            candidates: Self.candidates([empty, full]),
            constraints: try Placement.Constraints([]),
            strategies: [PlacementStrategy(type: "binpack", field: "memory")],
            using: &generator
        )
        #expect(binpack.instances == [full.containerInstanceArn, full.containerInstanceArn])

        let spread = Placement.place(
            count: 4,
            demand: Reservation(memory: 10),
            group: "g",
            candidates: Self.candidates([empty, full]),
            constraints: try Placement.Constraints([]),
            strategies: [PlacementStrategy(type: "spread", field: "instanceId")],
            using: &generator
        )
        #expect(Dictionary(grouping: spread.instances, by: { $0 }).mapValues(\.count).values.sorted() == [2, 2])
    }

    @Test("distinctInstance and memberOf constraints filter instances; what is left unplaced is listed")
    func constraints() throws {
        let small = try Self.instance("a", attributes: ["ecs.instance-type": "t2.small", "stage": "prod"])
        let large = try Self.instance("b", attributes: ["ecs.instance-type": "m5.large"])
        var generator = SystemRandomNumberGenerator()
        let distinct = Placement.place(
            count: 3,
            demand: Reservation(memory: 10),
            group: "g",
            candidates: Self.candidates([small, large]),
            constraints: try Placement.Constraints([PlacementConstraint(type: "distinctInstance")]),
            strategies: [],
            using: &generator
        )
        #expect(Set(distinct.instances) == [small.containerInstanceArn, large.containerInstanceArn])
        #expect(distinct.failures.allSatisfy { $0.reason == "DistinctInstance" })

        let memberOf = Placement.place(
            count: 2,
            demand: Reservation(memory: 10),
            group: "g",
            candidates: Self.candidates([small, large]),
            constraints: try Placement.Constraints([
                PlacementConstraint(type: "memberOf", expression: "attribute:ecs.instance-type =~ t2.*")
            ]),
            strategies: [],
            using: &generator
        )
        #expect(memberOf.instances == [small.containerInstanceArn, small.containerInstanceArn])
    }

    @Test(
        "random placement without a scan places as many as the full one, only where a task fits, with the same failures, whatever instances it prefers"
    )
    func randomWithoutScan() throws {
        var random = SeededRandom.make("PlacementTests.randomWithoutScan")
        for round in 0..<300 {
            let instances = try (0..<Int.random(in: 1...8, using: &random)).map { index in
                try Self.instance(
                    "i\(index)",
                    cpu: Int.random(in: 0...4, using: &random) * 256,
                    memory: Int.random(in: 0...4, using: &random) * 256,
                    connected: Int.random(in: 0..<5, using: &random) > 0
                )
            }
            let demand = Reservation(
                cpu: Int.random(in: 0...2, using: &random) * 128,
                memory: Int.random(in: 1...3, using: &random) * 128
            )
            let constraints = try Placement.Constraints(
                Bool.random(using: &random) ? [PlacementConstraint(type: "distinctInstance")] : []
            )
            let count = Int.random(in: 1...10, using: &random)
            let candidates = instances.map { Placement.Candidate(instance: $0, taskGroups: [:], runningTasks: 0) }
            let byArn = Dictionary(uniqueKeysWithValues: candidates.map { ($0.instance.containerInstanceArn, $0) })
            // None, some or all of them preferred: what is placed and what fails must not change.
            let preferred = Set(byArn.keys.filter { _ in Bool.random(using: &random) })
            let full = Placement.place(
                count: count,
                demand: demand,
                group: "g",
                candidates: candidates,
                constraints: constraints,
                strategies: [PlacementStrategy(type: "random")],
                using: &random
            )
            let sampled = Placement.placeRandomly(
                count: count,
                demand: demand,
                group: "g",
                instances: Array(byArn.keys),
                candidate: { byArn[$0] },
                constraints: constraints,
                preferring: { preferred.contains($0) },
                using: &random
            )
            #expect(sampled.instances.count == full.instances.count, "round \(round)")
            #expect(Set(sampled.failures) == Set(full.failures), "round \(round)")
            // Each task went where it fitted, given the ones placed before it.
            var state = byArn
            for arn in sampled.instances {
                let candidate = try #require(state[arn])
                #expect(candidate.instance.agentConnected, "round \(round)")
                #expect(Placement.shortfall(of: candidate.instance, for: demand) == nil, "round \(round)")
                #expect(
                    !constraints.distinctInstanceRequired || candidate.taskGroups["g", default: 0] == 0,
                    "round \(round)"
                )
                state[arn]?.instance.reserved = candidate.instance.reserved + demand
                state[arn]?.taskGroups["g", default: 0] += 1
            }
        }
    }

    @Test(
        "random placement goes to preferred instances while they have room, to the others once they are full"
    )
    func randomPrefers() throws {
        var random = SeededRandom.make("PlacementTests.randomPrefers")
        // 300 instances of room for 4 tasks each; a third preferred, as a replica of three holds a third.
        let instances = try (0..<300).map { try Self.instance("i\($0)", cpu: 4096, memory: 1024) }
        let preferred = Set(instances.prefix(100).map(\.containerInstanceArn))
        var byArn = Dictionary(
            uniqueKeysWithValues: instances.map {
                ($0.containerInstanceArn, Placement.Candidate(instance: $0, taskGroups: [:], runningTasks: 0))
            }
        )
        let demand = Reservation(cpu: 0, memory: 256)
        var onPreferred = 0
        // Calls of ten, until every instance is full: 400 tasks fit on the preferred ones, 1,200 in all.
        for call in 0..<120 {
            let decision = Placement.placeRandomly(
                count: 10,
                demand: demand,
                group: "g",
                instances: Array(byArn.keys).sorted(),
                candidate: { byArn[$0] },
                constraints: try Placement.Constraints([]),
                preferring: { preferred.contains($0) },
                using: &random
            )
            #expect(decision.instances.count == 10)
            for arn in decision.instances {
                let reserved = try #require(byArn[arn]).instance.reserved
                byArn[arn]?.instance.reserved = reserved + demand
                if preferred.contains(arn) { onPreferred += 1 }
            }
            if call == 19 {
                // A task draws 16 times for a preferred instance before it takes any: while at least a
                // quarter of all instances are preferred ones with room, it misses less than 1% of the time
                // (0.75^16). Without the preference, a third of these 200 would be on preferred instances.
                #expect(onPreferred >= 190, "\(onPreferred) of the first 200 on preferred instances")
            }
        }
        // The others took the rest: nothing was refused while any instance had room.
        #expect(onPreferred == 400)
        #expect(byArn.values.allSatisfy { $0.instance.reserved.memory == 1024 })
    }

    @Test("resource shortfalls are named in ECS's words, CPU first")
    func shortfalls() throws {
        let instance = try Self.instance(
            "a",
            cpu: 512,
            memory: 256,
            reserved: Reservation(ports: [8080], portsUDP: [53])
        )
        #expect(Placement.shortfall(of: instance, for: Reservation(cpu: 1024)) == "RESOURCE:CPU")
        #expect(Placement.shortfall(of: instance, for: Reservation(memory: 512)) == "RESOURCE:MEMORY")
        #expect(Placement.shortfall(of: instance, for: Reservation(ports: [22])) == "RESOURCE:PORTS")
        #expect(Placement.shortfall(of: instance, for: Reservation(ports: [8080])) == "RESOURCE:PORTS")
        #expect(Placement.shortfall(of: instance, for: Reservation(portsUDP: [53])) == "RESOURCE:PORTS_UDP")
        #expect(Placement.shortfall(of: instance, for: Reservation(cpu: 512, memory: 256, ports: [80])) == nil)
    }

    @Test(
        "the query language: operators in symbol and word forms, lists, negation, grouping",
        arguments: [
            ("attribute:ecs.instance-type == t2.small", true),
            ("attribute:ecs.instance-type equals m5.large", false),
            ("attribute:ecs.instance-type =~ t2.*", true),
            ("attribute:ecs.instance-type !~ t2.*", false),
            ("attribute:stage exists", true),
            ("attribute:missing !exists", true),
            ("attribute:missing not_exists and attribute:stage == prod", true),
            ("ec2InstanceId in ['i-a', 'i-z']", true),
            ("ec2InstanceId not_in [i-a]", false),
            ("not(task:group == database)", false),
            ("!(task:group == web) || agentConnected == true", true),
            ("runningTasksCount > 1", true),
            ("runningTasksCount <= 1", false),
            ("registeredAt >= 2023-01-01", true),
            ("(attribute:stage == dev or attribute:stage == prod) && agentVersion == 1.0", true),
        ]
    )
    func queries(expression: String, expected: Bool) throws {
        let subject = ClusterQuery.Subject(
            instance: try Self.instance("a", attributes: ["ecs.instance-type": "t2.small", "stage": "prod"]),
            taskGroups: ["database"],
            runningTasksCount: 2
        )
        #expect(try ClusterQuery(parsing: expression).matches(subject) == expected)
    }

    @Test("malformed expressions are InvalidParameterException with the expression in the message")
    func malformed() {
        for expression in ["attribute:x ==", "(a == b", "a ~= b", "x in a", "attribute:x == 'open"] {
            let error = #expect(throws: ClusterError.self) { try ClusterQuery(parsing: expression) }
            #expect(error?.code == .invalidParameter)
            #expect(error?.message.contains(expression) == true)
        }
    }
}
