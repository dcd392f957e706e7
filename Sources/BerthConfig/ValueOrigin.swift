/// Where a configuration value came from.
public enum ValueOrigin: Sendable, Hashable, CustomStringConvertible {
    /// Not set anywhere: Berth's default.
    case `default`
    /// A line of the configuration file.
    case file(path: String, line: Int)
    /// An environment variable, which overrides the file.
    case environment

    public var description: String {
        switch self {
        case .default: "default"
        case .file(let path, let line): "\(path):\(line)"
        case .environment: "environment"
        }
    }
}
