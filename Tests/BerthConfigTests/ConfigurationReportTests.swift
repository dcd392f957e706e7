import BerthConfig
import Testing

@Suite("Effective configuration report")
struct ConfigurationReportTests {
    @Test("every key once, in file syntax, with its origin; credentials summarised")
    func report() throws {
        let loaded = try load(
            """
            AWS_DEFAULT_REGION=us-east-1
            ECS_ENGINE_AUTH_TYPE=docker
            ECS_ENGINE_AUTH_DATA={"127.0.0.1:51671":{"username":"berth","password":"hunter2"}}
            """,
            environment: ["ECS_CLUSTER": "dev"]
        )
        let report = ConfigurationReport.render(loaded)
        let lines = report.split(separator: "\n").map(String.init)
        #expect(lines.first == "# Effective configuration: /etc/ecs/ecs.config, overridden by the environment")
        #expect(lines.count == ConfigurationKey.allCases.count + 1)
        #expect(lines[1].hasPrefix("ECS_CLUSTER=dev ") && lines[1].hasSuffix("# environment"))
        #expect(lines.contains { $0.hasPrefix("ECS_ENGINE_AUTH_DATA=<redacted: credentials for 127.0.0.1:51671> ") })
        #expect(
            lines.contains {
                $0.hasPrefix("ECS_RESERVED_PORTS=[22,2375,2376,51678,51679] ") && $0.hasSuffix("# default")
            }
        )
        #expect(lines.contains { $0.hasPrefix("ECS_AVAILABLE_LOGGING_DRIVERS=[\"json-file\",\"none\"] ") })
        #expect(
            lines.contains { $0.hasPrefix("AWS_DEFAULT_REGION=us-east-1 ") && $0.hasSuffix("# /etc/ecs/ecs.config:1") }
        )
        #expect(!report.contains("hunter2"))
    }

    @Test("the values it prints are read back to the same configuration")
    func printedValuesLoadBack() throws {
        let original = try load(
            """
            AWS_DEFAULT_REGION=eu-west-3
            ECS_CLUSTER=prod
            ECS_RESERVED_PORTS=[22,80]
            ECS_CONTAINER_STOP_TIMEOUT=1m30s
            ECS_INSTANCE_ATTRIBUTES={"a":"1","b":"x y"}
            ECS_AVAILABLE_LOGGING_DRIVERS=["syslog"]
            ECS_DYNAMIC_HOST_PORT_RANGE=40000-41000
            """
        )
        let assignments = ConfigurationKey.allCases.filter { !$0.isSecret }.map { key in
            "\(key.rawValue)=\(ConfigurationReport.value(of: key, in: original.configuration))"
        }
        let reloaded = try load(assignments.joined(separator: "\n"))
        #expect(reloaded.configuration == original.configuration)
    }
}
