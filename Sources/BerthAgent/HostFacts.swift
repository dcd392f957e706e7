import Foundation

/// What the host has, read from the kernel: the agent registers it.
public struct HostFacts: Sendable, Hashable {
    public var cpuCores: Int
    /// MemTotal, MiB.
    public var memoryMiB: Int
    public var architecture: String

    public init(cpuCores: Int, memoryMiB: Int, architecture: String) {
        self.cpuCores = cpuCores
        self.memoryMiB = memoryMiB
        self.architecture = architecture
    }

    /// This host, from `/proc/meminfo` and the processor count.
    public static func current() throws(AgentError) -> HostFacts {
        let meminfo: String
        do {
            meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        } catch {
            throw AgentError(.host, "cannot read /proc/meminfo: \(error.localizedDescription)")
        }
        guard let memoryKiB = memTotalKiB(meminfo) else {
            throw AgentError(.host, "/proc/meminfo has no MemTotal line")
        }
        #if arch(arm64)
        let architecture = "arm64"
        #else
        let architecture = "x86_64"
        #endif
        return HostFacts(
            cpuCores: ProcessInfo.processInfo.activeProcessorCount,
            memoryMiB: memoryKiB / 1024,
            architecture: architecture
        )
    }

    /// `MemTotal:       16318412 kB` → 16318412.
    public static func memTotalKiB(_ meminfo: String) -> Int? {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2 else { return nil }
            return Int(fields[1])
        }
        return nil
    }
}
