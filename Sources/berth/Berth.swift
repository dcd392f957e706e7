import ArgumentParser

@main
struct Berth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "A container agent for Linux hosts, compatible with Amazon ECS.",
        version: "\(BuildInfo.version) (commit \(BuildInfo.commit))",
        subcommands: [AgentCommand.self, ControlPlaneCommand.self, CheckConfig.self, VersionCommand.self]
    )
}
