import BerthAgent
import BerthAgentChannel
import BerthModel
import PropertyBased
import Testing

@Suite("Task manifests: what the agent stops")
struct ManifestReconciliationTests {
    static func local(_ running: [String], stopped: [String] = []) -> [ManifestReconciliation.LocalTask] {
        running.map { .init(taskArn: $0, running: true) } + stopped.map { .init(taskArn: $0, running: false) }
    }

    @Test("listed STOPPED stops now; unlisted is asked about; a confirmation counts only for the latest manifest")
    func decisions() throws {
        var reconciliation = ManifestReconciliation()
        let manifest = TaskManifest(
            messageID: "m1",
            timeline: 10,
            tasks: [.init(taskArn: "a", desiredStatus: .running), .init(taskArn: "b", desiredStatus: .stopped)]
        )
        let taken = reconciliation.take(manifest, local: Self.local(["a", "b", "c"], stopped: ["d"]))
        let decision = try #require(taken)
        #expect(decision.stopNow == ["b"])
        #expect(decision.candidates == ["c"])
        #expect(reconciliation.confirmed(manifestID: "m0", taskArns: ["c"]).isEmpty)
        #expect(reconciliation.confirmed(manifestID: "m1", taskArns: ["c", "a", "zzz"]) == ["c"])
        // Answered once: the same answer again stops nothing.
        #expect(reconciliation.confirmed(manifestID: "m1", taskArns: ["c"]).isEmpty)
        // Not newer: ignored.
        let stale = reconciliation.take(
            TaskManifest(messageID: "m0", timeline: 10, tasks: []),
            local: Self.local(["a"])
        )
        #expect(stale == nil)
    }

    @Test("a newer manifest replaces the pending question: the older one's answer stops nothing")
    func newerManifest() {
        var reconciliation = ManifestReconciliation()
        _ = reconciliation.take(TaskManifest(messageID: "m1", timeline: 1, tasks: []), local: Self.local(["x"]))
        _ = reconciliation.take(
            TaskManifest(messageID: "m2", timeline: 2, tasks: [.init(taskArn: "x", desiredStatus: .running)]),
            local: Self.local(["x"])
        )
        #expect(reconciliation.confirmed(manifestID: "m1", taskArns: ["x"]).isEmpty)
    }

    /// Whatever the manifests and answers: nothing is stopped that is not running here; what stops at once
    /// is listed STOPPED; what stops on a confirmation was unlisted in the latest manifest taken.
    @Test("any manifests and answers: only running tasks stop, listed STOPPED or unlisted-and-confirmed")
    func property() async {
        // Each number drives one step: which tasks run here, what the manifest lists, what is answered.
        let script = Gen.int(in: 0...(1 << 24)).array(of: 1...40)
        await propertyCheck(count: 300, input: script) { numbers in
            var reconciliation = ManifestReconciliation()
            let arns = (0..<6).map { "t\($0)" }
            var latestUnlisted: Set<String> = []
            var latestID: String?
            for (index, number) in numbers.enumerated() {
                func bit(_ position: Int) -> Bool { (number >> position) & 1 == 1 }
                let running = arns.indices.filter { bit($0) }.map { arns[$0] }
                if number % 3 == 0, let id = latestID {
                    let answer = arns.indices.filter { bit($0 + 6) }.map { arns[$0] }
                    let matching = number % 2 == 0
                    let stops = reconciliation.confirmed(manifestID: matching ? id : "other", taskArns: answer)
                    #expect(Set(stops).isSubset(of: latestUnlisted))
                    #expect(Set(stops).isSubset(of: Set(answer)))
                    // Answered: the question is closed. An answer to another manifest leaves it open.
                    if matching { latestUnlisted = [] }
                    continue
                }
                let entries = arns.indices.filter { bit($0 + 6) }.map {
                    TaskManifest.Entry(taskArn: arns[$0], desiredStatus: bit($0 + 12) ? .stopped : .running)
                }
                let manifest = TaskManifest(messageID: "m\(index)", timeline: Int64(number % 50), tasks: entries)
                guard let decision = reconciliation.take(manifest, local: Self.local(running)) else { continue }
                let listedStopped = Set(entries.filter { $0.desiredStatus == .stopped }.map(\.taskArn))
                let listed = Set(entries.map(\.taskArn))
                #expect(Set(decision.stopNow).isSubset(of: Set(running).intersection(listedStopped)))
                #expect(Set(decision.candidates) == Set(running).subtracting(listed))
                latestUnlisted = Set(decision.candidates)
                latestID = manifest.messageID
            }
        }
    }
}
