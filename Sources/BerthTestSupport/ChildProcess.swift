public import Foundation
import Synchronization

/// A program run to its end with its output captured. Standard output and standard error are read at the
/// same time: reading one to its end first deadlocks once the child fills the other pipe (64 KiB) and
/// blocks writing to it.
public struct ChildProcess: Sendable {
    public let status: Int32
    public let output: Data
    public let error: Data

    public var standardOutput: String { String(decoding: output, as: UTF8.self) }
    public var standardError: String { String(decoding: error, as: UTF8.self) }

    /// Runs `executable` with `arguments` and `environment` (nil inherits this process's), blocking until
    /// it exits; call it through ``offThePool(_:)`` from async code.
    public static func run(
        _ executable: URL,
        _ arguments: [String],
        environment: [String: String]? = nil
    ) throws -> ChildProcess {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let errorData = Captured()
        let drained = DispatchGroup()
        DispatchQueue.global().async(group: drained) {
            errorData.set(error.fileHandleForReading.readDataToEndOfFile())
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        process.waitUntilExit()
        return ChildProcess(status: process.terminationStatus, output: outputData, error: errorData.get())
    }

    /// Data handed from the reading thread to the waiting one.
    private final class Captured: Sendable {
        private let data = Mutex(Data())
        func set(_ value: Data) { data.withLock { $0 = value } }
        func get() -> Data { data.withLock { $0 } }
    }
}
