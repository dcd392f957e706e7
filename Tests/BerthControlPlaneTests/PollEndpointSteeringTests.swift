import PropertyBased
import Testing

@testable import BerthControlPlane

/// DiscoverPollEndpoint's choice of replica, as a pure function.
@Suite("Steering agents' channels over replicas")
struct PollEndpointSteeringTests {
    static func candidates(_ loads: [Int]) -> [PollEndpointSteering.Candidate] {
        loads.enumerated().map { index, agents in
            PollEndpointSteering.Candidate(
                replicaID: "replica-\(index)",
                endpoint: "https://cp-\(index).example:51680",
                agents: agents
            )
        }
    }

    @Test(
        "a replica holding the fewest agents is chosen, the same whatever order replicas are listed in; agents arriving one by one end spread evenly"
    )
    func fewestAndEven() async {
        let scenarios = Gen.int(in: 0...1_000_000).array(of: 2...8)
        await propertyCheck(count: 200, input: scenarios) { numbers in
            let loads = numbers.map { $0 % 5 }
            let candidates = Self.candidates(loads)
            let instance = "arn:aws:ecs:us-east-1:123456789012:container-instance/c/\(numbers[0])"
            let chosen = PollEndpointSteering.choose(for: instance, among: candidates)
            let fewest = candidates.filter { $0.agents == loads.min() }.map(\.endpoint)
            #expect(chosen.map { fewest.contains($0) } == true)
            #expect(PollEndpointSteering.choose(for: instance, among: candidates.reversed()) == chosen)

            // Agents arriving one by one, each seen by the next: never more than one apart.
            var spread = Self.candidates(Array(repeating: 0, count: loads.count))
            for agent in 0..<(numbers[1] % 40) {
                let endpoint = PollEndpointSteering.choose(for: "\(instance)-\(agent)", among: spread)
                let index = spread.firstIndex { $0.endpoint == endpoint }
                if let index { spread[index].agents += 1 }
            }
            let counts = spread.map(\.agents)
            #expect((counts.max() ?? 0) - (counts.min() ?? 0) <= 1, "\(counts)")
        }
    }

    @Test("no replica says where it is: no answer, and DiscoverPollEndpoint names the replica asked")
    func none() {
        #expect(PollEndpointSteering.choose(for: "any", among: []) == nil)
    }

    @Test("agents asking at once (the same counts) are spread by their ARNs, alike on every replica")
    func simultaneous() {
        let candidates = Self.candidates([0, 0, 0])
        let chosen = (0..<300).compactMap {
            PollEndpointSteering.choose(for: "arn:aws:ecs:eu-west-1:1:container-instance/c/\($0)", among: candidates)
        }
        let counts = Dictionary(grouping: chosen, by: { $0 }).mapValues(\.count)
        #expect(counts.count == 3)
        #expect(counts.values.allSatisfy { $0 > 60 }, "\(counts)")
    }
}
