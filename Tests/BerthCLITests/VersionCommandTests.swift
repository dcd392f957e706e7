import BerthTestSupport
import Foundation
import Testing

@Suite("berth version")
struct VersionCommandTests {
    /// The repository this test file is in.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("prints the VERSION file and the commit the checkout is at; --version says the same")
    func versionAndCommit() async throws {
        let version = try String(contentsOf: Self.repository.appendingPathComponent("VERSION"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let repository = Self.repository
        let head = try await offThePool { try BerthProcess.git(["rev-parse", "--short=12", "HEAD"], in: repository) }
        let printed = try await BerthProcess.run(["version"])
        #expect(printed.status == 0)
        // `-dirty` follows the commit when the checkout the binary was built from had changes.
        let clean = "berth \(version) (commit \(head))\n"
        let dirty = "berth \(version) (commit \(head)-dirty)\n"
        #expect([clean, dirty].contains(printed.standardOutput), "\(printed.standardOutput)")

        let flag = try await BerthProcess.run(["--version"])
        #expect(flag.status == 0)
        #expect("berth " + flag.standardOutput == printed.standardOutput)
    }
}

extension BerthProcess {
    /// One line of `git` output in `directory`; blocking, so called through `offThePool`.
    static func git(_ arguments: [String], in directory: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", directory.path] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
