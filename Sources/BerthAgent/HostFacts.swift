import Foundation

/// What the host has, read from the kernel: the agent registers it.
public struct HostFacts: Sendable, Hashable {
    public var cpuCores: Int
    /// MemTotal, MiB.
    public var memoryMiB: Int
    public var architecture: String
    /// `/etc/machine-id`: the host's identity when BERTH_INSTANCE_ID does not name one.
    public var machineID: String?
    /// The IPv4 address of the interface the default route leaves by: how other hosts reach this one.
    public var primaryIPv4: String?

    public init(
        cpuCores: Int,
        memoryMiB: Int,
        architecture: String,
        machineID: String? = nil,
        primaryIPv4: String? = nil
    ) {
        self.cpuCores = cpuCores
        self.memoryMiB = memoryMiB
        self.architecture = architecture
        self.machineID = machineID
        self.primaryIPv4 = primaryIPv4
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
        let routes = try? String(contentsOfFile: "/proc/net/route", encoding: .utf8)
        return HostFacts(
            cpuCores: ProcessInfo.processInfo.activeProcessorCount,
            memoryMiB: memoryKiB / 1024,
            architecture: architecture,
            machineID: ["/etc/machine-id", "/var/lib/dbus/machine-id"].lazy.compactMap(machineID(atPath:)).first,
            primaryIPv4: routes.flatMap(defaultRouteInterface).flatMap { InterfaceAddresses.ipv4($0).first }
        )
    }

    /// The machine id in a file such as `/etc/machine-id`; nil when there is none or it is empty (an image
    /// prepared for cloning leaves it empty until first boot).
    public static func machineID(atPath path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }

    /// The interface of the default route in `/proc/net/route` (destination and mask 0, route up), the one
    /// with the lowest metric when there are several.
    public static func defaultRouteInterface(_ table: String) -> String? {
        var best: (interface: String, metric: Int)?
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000",
                let flags = Int(fields[3], radix: 16), flags & 0x1 != 0, let metric = Int(fields[6])
            else { continue }
            if metric < best?.metric ?? Int.max { best = (String(fields[0]), metric) }
        }
        return best?.interface
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
