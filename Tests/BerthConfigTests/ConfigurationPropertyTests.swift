import BerthConfig
import BerthModel
import PropertyBased
import Testing

@Suite("Configuration properties")
struct ConfigurationPropertyTests {
    /// Assignments with distinct keys and valid values, each with the value the configuration must end up with.
    static let assignments: [(line: String, check: @Sendable (BerthConfiguration) -> Bool)] = [
        ("ECS_CLUSTER=prod", { $0.cluster.value == "prod" }),
        ("AWS_DEFAULT_REGION=eu-north-1", { $0.region.name == "eu-north-1" }),
        ("ECS_LOGLEVEL=error", { $0.logLevel == .error }),
        ("ECS_RESERVED_PORTS=[22,8080]", { $0.reservedPorts == [22, 8080] }),
        ("ECS_RESERVED_MEMORY=128", { $0.reservedMemoryMiB == 128 }),
        ("ECS_CONTAINER_STOP_TIMEOUT=45s", { $0.containerStopTimeout == .seconds(45) }),
        ("ECS_IMAGE_PULL_BEHAVIOR=once", { $0.imagePullBehavior == .once }),
        (#"ECS_INSTANCE_ATTRIBUTES={"zone":"a"}"#, { $0.instanceAttributes.map(\.description) == ["zone=a"] }),
        ("ECS_DISABLE_PRIVILEGED=true", { $0.privilegedDisabled }),
        ("BERTH_API_LISTEN=127.0.0.1:9999", { $0.apiListen.port == 9999 }),
    ]

    @Test("line order, padding and quoting do not change the configuration")
    func lineOrder() async {
        let count = Self.assignments.count
        await propertyCheck(
            count: 200,
            input: Gen<[Int]>.shuffled(Array(0..<count)),
            Gen.int(in: 0...2).array(of: count)
        ) {
            order,
            styles in
            let lines = order.map { index in
                let line = Self.assignments[index].line
                guard let equals = line.firstIndex(of: "=") else { return line }
                let key = line[..<equals]
                let value = line[line.index(after: equals)...]
                switch styles[index] {
                case 0: return line
                case 1: return "  \(key) = '\(value)'  "
                default: return "# comment\n\(key)=\"\(value)\"\n"
                }
            }
            do {
                let loaded = try load(lines.joined(separator: "\n"))
                #expect(loaded.warnings.isEmpty)
                for assignment in Self.assignments {
                    #expect(assignment.check(loaded.configuration), "\(assignment.line)")
                }
            } catch {
                Issue.record("refused: \(error)")
            }
        }
    }

    @Test("any key set in the environment overrides the file's value; the rest come from the file")
    func overrides() async {
        let count = Self.assignments.count
        await propertyCheck(count: 200, input: Gen<Bool>.bool.array(of: count)) { inEnvironment in
            var file: [String] = []
            var environment: [String: String] = [:]
            for (index, assignment) in Self.assignments.enumerated() {
                guard let equals = assignment.line.firstIndex(of: "=") else { continue }
                let key = String(assignment.line[..<equals])
                let value = String(assignment.line[assignment.line.index(after: equals)...])
                if inEnvironment[index] {
                    // The file says something else for the same key; the environment must win.
                    file.append("\(key)=\(Self.otherValue(for: key))")
                    environment[key] = value
                } else {
                    file.append(assignment.line)
                }
            }
            do {
                let loaded = try load(file.joined(separator: "\n"), environment: environment)
                for (index, assignment) in Self.assignments.enumerated() {
                    #expect(assignment.check(loaded.configuration), "\(assignment.line)")
                    if let key = ConfigurationKey(rawValue: String(assignment.line.prefix(while: { $0 != "=" }))) {
                        let expected: ValueOrigin =
                            inEnvironment[index] ? .environment : .file(path: "/etc/ecs/ecs.config", line: index + 1)
                        #expect(loaded.origin(of: key) == expected)
                    }
                }
            } catch {
                Issue.record("refused: \(error)")
            }
        }
    }

    static func otherValue(for key: String) -> String {
        switch key {
        case "ECS_RESERVED_PORTS": "[1]"
        case "ECS_RESERVED_MEMORY": "1"
        case "ECS_CONTAINER_STOP_TIMEOUT": "2s"
        case "ECS_INSTANCE_ATTRIBUTES": #"{"other":"x"}"#
        case "ECS_DISABLE_PRIVILEGED": "false"
        case "BERTH_API_LISTEN": "127.0.0.1:1"
        case "AWS_DEFAULT_REGION": "us-west-2"
        case "ECS_LOGLEVEL": "debug"
        case "ECS_IMAGE_PULL_BEHAVIOR": "always"
        default: "other"
        }
    }

    /// Passwords made of characters that survive JSON unescaped and are unlikely to occur by chance.
    static let secrets = characters(from: "QWXZqwxz0987!$%^*~").string(of: 12...24)

    @Test("a registry password never appears in diagnostics or the report, valid or not")
    func secretsStaySecret() async {
        await propertyCheck(count: 200, input: Self.secrets, Gen.int(in: 0...4)) { secret, shape in
            let data: String
            switch shape {
            case 0: data = #"{"127.0.0.1:51671":{"username":"berth","password":"\#(secret)"}}"#
            case 1: data = #"{"127.0.0.1:51671":{"username":"berth","password":"\#(secret)""#  // broken JSON
            case 2: data = #"{"127.0.0.1:51671":{"username":"\#(secret)"}}"#  // missing password
            case 3: data = #"{"127.0.0.1:51671":"\#(secret)"}"#  // wrong shape
            default: data = #"{"r":{"auth":"\#(secret)"}}"#  // not base64 of user:password (with type docker)
            }
            let file = "AWS_DEFAULT_REGION=us-east-1\nECS_ENGINE_AUTH_TYPE=docker\nECS_ENGINE_AUTH_DATA=\(data)\n"
            for environment in [[:], ["ECS_ENGINE_AUTH_DATA": data]] {
                var outputs: [String] = []
                do {
                    let loaded = try load(file, environment: environment)
                    outputs += loaded.warnings.map(\.description)
                    outputs.append(ConfigurationReport.render(loaded))
                    outputs.append("\(loaded.configuration)")
                    outputs.append(String(reflecting: loaded.configuration))
                } catch {
                    outputs.append("\(error)")
                }
                for output in outputs {
                    #expect(!output.contains(secret), "leaked in: \(output)")
                }
            }
        }
    }
}
