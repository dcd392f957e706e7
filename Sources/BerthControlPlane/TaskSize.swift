/// Task-level `cpu` and `memory`, which the API carries as strings: `"1024"` or `"1 vCPU"` / `"0.25 vcpu"`
/// for CPU units, `"2048"` or `"2 GB"` / `"2GB"` for MiB. ECS converts them to whole numbers when a task
/// definition is registered, and so does Berth: what is stored and shown is `"1024"`.
///
/// Only plain decimal numbers are read (no sign, exponent, `nan` or `inf`), and the result must be a
/// whole number within ECS's range for tasks on EC2 instances, so nothing that reaches placement's
/// arithmetic can overflow.
public enum TaskSize {
    /// CPU units of a task on EC2: 0.125 to 192 vCPUs.
    public static let cpuUnits = 128...196_608
    /// MiB of a task: Docker's least memory limit, up to what the API's 32-bit integers hold.
    public static let memoryMiB = 6...Int(Int32.max)

    /// The CPU units `text` stands for; the error says why it is refused.
    public static func cpu(_ text: String) throws(ClusterError) -> Int {
        guard let units = convert(text, units: ["": 1, "vcpu": 1024, "vcpus": 1024]), cpuUnits.contains(units) else {
            throw ClusterError(
                .client,
                "Invalid 'cpu' setting for task: '\(text.prefix(64))'. Use CPU units (\(cpuUnits.lowerBound) to \(cpuUnits.upperBound)) or vCPUs such as '1 vCPU'."
            )
        }
        return units
    }

    /// The MiB `text` stands for; the error says why it is refused.
    public static func memory(_ text: String) throws(ClusterError) -> Int {
        guard let mebibytes = convert(text, units: ["": 1, "mb": 1, "mib": 1, "gb": 1024, "gib": 1024]),
            memoryMiB.contains(mebibytes)
        else {
            throw ClusterError(
                .client,
                "Invalid 'memory' setting for task: '\(text.prefix(64))'. Use MiB (at least \(memoryMiB.lowerBound)) or GB such as '2 GB'."
            )
        }
        return mebibytes
    }

    /// `number [unit]` with the number in plain decimal notation, times the unit's factor, when that is a
    /// whole number that fits; nil otherwise.
    static func convert(_ text: String, units: [String: Int]) -> Int? {
        let trimmed = text.trimmingSpaces
        let numberEnd = trimmed.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? trimmed.endIndex
        let number = trimmed[..<numberEnd]
        let unit = trimmed[numberEnd...].trimmingSpaces.lowercased()
        guard let factor = units[unit], !number.isEmpty, number.count <= 20 else { return nil }
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard parts.count == 1 || !fraction.isEmpty, fraction.count <= 6 else { return nil }
        // (whole + fraction / 10^digits) × factor, in integers: exact, and refused when not whole.
        var scale = 1
        for _ in fraction { scale *= 10 }
        guard let wholeValue = Int(whole), let fractionValue = fraction.isEmpty ? 0 : Int(fraction) else { return nil }
        let (scaled, overflow) = wholeValue.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        let (numerator, overflowSum) = scaled.addingReportingOverflow(fractionValue)
        guard !overflowSum else { return nil }
        let (product, overflowProduct) = numerator.multipliedReportingOverflow(by: factor)
        guard !overflowProduct, product % scale == 0 else { return nil }
        return product / scale
    }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: Substring {
        let text = Substring(self)
        guard let first = text.firstIndex(where: { $0 != " " }) else { return "" }
        let last = text.lastIndex { $0 != " " } ?? first
        return text[first...last]
    }
}
