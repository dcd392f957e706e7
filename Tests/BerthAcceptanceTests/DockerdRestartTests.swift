import BerthTestSupport
import Foundation
import Testing

/// dockerd restarts under a running agent: the agent reconnects by itself, reports the tasks whose
/// containers died with it, and runs new tasks. Restarting dockerd disturbs every other test, so
/// `make test` runs this one alone, after the others (BERTH_TEST_DOCKERD_RESTART=1).
@Suite(
    "berth agent: dockerd restarts while tasks run",
    .enabled(if: ProcessInfo.processInfo.environment["BERTH_TEST_DOCKERD_RESTART"] == "1")
)
struct DockerdRestartTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("tasks whose containers died with dockerd are reported STOPPED; the agent goes on working")
    func restart() async throws {
        let cluster = "dockerd-restart"
        let agent = try BerthAgentProcess(cluster: cluster, extraConfiguration: "ECS_CONTAINER_STOP_TIMEOUT=2s")
        defer { agent.removeDirectory() }
        do {
            try await agent.waitUntilRegistered(cluster: cluster)
            let definition =
                #"{"family":"survivor","containerDefinitions":[{"name":"main","image":"\#(TestEnvironment.localImage)","memory":8,"command":["sleep","3600"]}]}"#
            #expect(try await ECSCall.post(agent.endpoint, "RegisterTaskDefinition", definition).0 == 200)
            let before = try await agent.runTask(cluster: cluster, taskDefinition: "survivor")
            try await agent.waitForTask(before, cluster: cluster, status: "RUNNING")

            try await restartDockerd()

            let stopped = try await agent.waitForTask(before, cluster: cluster, status: "STOPPED")
            let main = (stopped["containers"] as? [[String: Any]])?.first
            #expect(main?["exitCode"] is Int, "the exit code Docker recorded is reported: \(stopped)")
            #expect(stopped["stopCode"] as? String == "EssentialContainerExited")

            let after = try await agent.runTask(cluster: cluster, taskDefinition: "survivor")
            try await agent.waitForTask(after, cluster: cluster, status: "RUNNING")
            #expect(
                try await ECSCall.post(agent.endpoint, "StopTask", #"{"cluster":"\#(cluster)","task":"\#(after)"}"#).0
                    == 200
            )
            try await agent.waitForTask(after, cluster: cluster, status: "STOPPED")
        } catch {
            Issue.record("berth log:\n\(agent.logText.suffix(4000))")
            _ = await agent.terminate()
            throw error
        }
        #expect(await agent.terminate() == 0)
    }

    /// Stops dockerd (it stops its containers), then starts it again with the project's script.
    func restartDockerd() async throws {
        try await shell(
            "pkill -TERM -x dockerd; for i in $(seq 1 120); do pgrep -x dockerd >/dev/null || exit 0; sleep 0.5; done; exit 1"
        )
        try await shell("\(Self.repository.path)/scripts/ensure-dockerd.sh")
    }

    /// Runs a shell command and waits for it with waitpid: Foundation's Process never saw the script that
    /// starts dockerd end (the daemon it leaves behind kept the wait from returning).
    func shell(_ command: String) async throws {
        try await offThePool { try Self.spawnAndWait(command) }
    }

    static func spawnAndWait(_ command: String) throws {
        var pid: pid_t = 0
        let words: [String] = ["/bin/bash", "-c", command]
        let arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) }
        defer { arguments.forEach { free($0) } }
        var argv = arguments + [nil]
        guard posix_spawn(&pid, "/bin/bash", nil, nil, &argv, environ) == 0 else {
            throw WaitTimeout("cannot run '\(command)'")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else { throw WaitTimeout("'\(command)' failed (\(status))") }
    }

}
