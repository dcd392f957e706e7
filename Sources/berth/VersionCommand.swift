import ArgumentParser

/// `berth version`: the version (the repository's VERSION file) and the git commit of this build.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print Berth's version and the git commit it was built from."
    )

    func run() {
        print("berth \(BuildInfo.version) (commit \(BuildInfo.commit))")
    }
}
