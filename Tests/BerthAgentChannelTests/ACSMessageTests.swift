import BerthAgentChannel
import BerthModel
import Foundation
import PropertyBased
import Testing

/// The payload channel's frames: the shapes of the ECS agent communication model, Berth's tasks carried
/// through them unchanged, and clear errors for frames that do not fit.
@Suite("ACS frames")
struct ACSMessageTests {
    static let cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/default"
    static let instance = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/0f1e2d3c"

    @Test("any task survives payload → frame → payload; only what Docker gives no meaning to is normalised")
    func payloadRoundTrip() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...Int.max).array(of: 1...1)) { seeds in
            var random = SplitMix64(seed: UInt64(seeds[0]))
            let tasks = (0..<Int.random(in: 1...3, using: &random)).map { _ in Self.randomTask(&random) }
            let message = PayloadMessage(messageID: "m-\(seeds[0])", tasks: tasks)
            let frame = ACSMessage.payload(
                ACSPayloadMessage(message, clusterArn: Self.cluster, containerInstanceArn: Self.instance)
            ).frame()
            guard case .payload(let parsed)? = try? ACSMessage.parse(frame) else {
                Issue.record("seed \(seeds[0]): the frame does not parse back: \(frame)")
                return
            }
            #expect(parsed.clusterArn == Self.cluster)
            #expect(parsed.containerInstanceArn == Self.instance)
            let back = try? parsed.payloadMessage()
            #expect(back == Self.normalised(message), "seed \(seeds[0])")
        }
    }

    @Test("frames are the model's: type and message, member names as the ECS agent reads them")
    func frameShape() throws {
        var web = ContainerDefinition(name: "web", image: "registry.local/web:1")
        web.memory = 128
        web.memoryReservation = 64
        web.portMappings = [PortMapping(containerPort: 80, hostPort: 8080, protocol: .tcp)]
        web.environment = [KeyValuePair(name: "MODE", value: "prod")]
        web.dependsOn = [ContainerDependency(containerName: "db", condition: .start)]
        web.healthCheck = HealthCheck(command: ["CMD-SHELL", "true"], interval: 5, retries: 3)
        web.user = "nobody"
        var payload = TaskPayload(
            taskArn: "arn:aws:ecs:us-east-1:123456789012:task/default/abc",
            clusterArn: Self.cluster,
            family: "web",
            revision: 7,
            containers: [web],
            volumes: [Volume(name: "scratch")],
            networkMode: .bridge,
            cpu: 512
        )
        payload.containerArns = ["web": "arn:aws:ecs:us-east-1:123456789012:container/default/abc/1"]
        let frame = ACSMessage.payload(
            ACSPayloadMessage(
                PayloadMessage(messageID: "m1", tasks: [payload]),
                clusterArn: Self.cluster,
                containerInstanceArn: Self.instance,
                seqNum: 3,
                generatedAt: 1_700_000_000_000
            )
        ).frame()
        let json = try #require(try JSONSerialization.jsonObject(with: Data(frame.utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["type", "message"])
        #expect(json["type"] as? String == "PayloadMessage")
        let message = try #require(json["message"] as? [String: Any])
        #expect(
            Set(message.keys) == ["messageId", "clusterArn", "containerInstanceArn", "tasks", "seqNum", "generatedAt"]
        )
        let task = try #require((message["tasks"] as? [[String: Any]])?.first)
        #expect(task["arn"] as? String == payload.taskArn)
        #expect(task["version"] as? String == "7")
        #expect(task["cpu"] as? Double == 512)
        #expect(task["desiredStatus"] as? String == "RUNNING")
        #expect((task["volumes"] as? [[String: Any]])?.first?["type"] as? String == "host")
        let container = try #require((task["containers"] as? [[String: Any]])?.first)
        #expect(container["environment"] as? [String: String] == ["MODE": "prod"])
        #expect(container["containerArn"] as? String == payload.containerArns?["web"])
        #expect((container["portMappings"] as? [[String: Any]])?.first?["protocol"] as? String == "tcp")
        let dockerConfig = try #require(container["dockerConfig"] as? [String: String])
        let configText = try #require(dockerConfig["config"])
        let config = try #require(try JSONSerialization.jsonObject(with: Data(configText.utf8)) as? [String: Any])
        #expect(config["User"] as? String == "nobody")
        let healthcheck = try #require(config["Healthcheck"] as? [String: Any])
        #expect(healthcheck["Test"] as? [String] == ["CMD-SHELL", "true"])
        #expect(healthcheck["Interval"] as? Int == 5_000_000_000)
        let hostConfigText = try #require(dockerConfig["hostConfig"])
        let hostConfig = try #require(
            try JSONSerialization.jsonObject(with: Data(hostConfigText.utf8)) as? [String: Any]
        )
        #expect(hostConfig["MemoryReservation"] as? Int == 64 * 1_048_576)
    }

    @Test("a payload as the ECS control plane writes it is read, dockerConfig included")
    func ecsShapedPayload() throws {
        let frame = #"""
            {"type":"PayloadMessage","message":{"messageId":"p-1","clusterArn":"default",
            "containerInstanceArn":"arn:aws:ecs:us-east-1:1:container-instance/default/i","seqNum":1,
            "generatedAt":1700000000000,"tasks":[{"arn":"arn:aws:ecs:us-east-1:1:task/default/t1",
            "taskClusterArn":"arn:aws:ecs:us-east-1:1:cluster/default","family":"app","version":"3",
            "desiredStatus":"RUNNING","overrides":"{}","launchType":"EXTERNAL","containers":[{"name":"app",
            "image":"busybox","cpu":10,"memory":64,"essential":true,"command":["sleep","60"],
            "environment":{"B":"2","A":"1"},"links":[],"portMappings":[{"containerPort":80,"hostPort":0,
            "protocol":"tcp"}],"mountPoints":[],"volumesFrom":[],"overrides":"{}","managedAgents":[],
            "dockerConfig":{"config":"{\"User\":\"1000\",\"Labels\":{\"team\":\"a\"},\"Unknown\":1}",
            "hostConfig":"{\"ExtraHosts\":[\"db:fd00::1\"],\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":1024,\"Hard\":4096}],\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"1m\"}},\"CapAdd\":[]}",
            "version":"1.17"}}],"volumes":[]}]}}
            """#
        guard case .payload(let message)? = try ACSMessage.parse(frame) else {
            Issue.record("not read as a payload")
            return
        }
        let payload = try message.payloadMessage()
        let task = try #require(payload.tasks.first)
        #expect(payload.messageID == "p-1")
        #expect(task.revision == 3)
        #expect(task.clusterArn == "arn:aws:ecs:us-east-1:1:cluster/default")
        let app = try #require(task.containers.first)
        #expect(app.environment == [KeyValuePair(name: "A", value: "1"), KeyValuePair(name: "B", value: "2")])
        #expect(app.user == "1000")
        #expect(app.dockerLabels == ["team": "a"])
        #expect(app.extraHosts == [HostEntry(hostname: "db", ipAddress: "fd00::1")])
        #expect(app.ulimits == [Ulimit(name: "nofile", softLimit: 1024, hardLimit: 4096)])
        #expect(app.logConfiguration == LogConfiguration(logDriver: .jsonFile, options: ["max-size": "1m"]))
        #expect(app.portMappings == [PortMapping(containerPort: 80, hostPort: 0, protocol: .tcp)])
    }

    @Test("the small messages read and write as the ECS agent sends them")
    func smallMessages() throws {
        #expect(
            ACSMessage.heartbeat(ACSHeartbeatMessage(messageId: "h1")).frame()
                == #"{"message":{"healthy":true,"messageId":"h1"},"type":"HeartbeatMessage"}"#
        )
        #expect(
            try ACSMessage.parse(#"{"type":"HeartbeatAckRequest","message":{"messageId":"h1"}}"#)
                == .heartbeatAck(ACSHeartbeatAckRequest(messageId: "h1"))
        )
        #expect(
            try ACSMessage.parse(
                #"{"type":"AckRequest","message":{"cluster":"c","containerInstance":"i","messageId":"m"}}"#
            )
                == .ack(ACSAckRequest(cluster: "c", containerInstance: "i", messageId: "m"))
        )
        let verification = ACSMessage.taskStopVerification(
            ACSTaskStopVerificationMessage(
                messageId: "tm-1",
                stopCandidates: [ACSTaskIdentifier(taskArn: "t", taskClusterArn: "c", desiredStatus: "RUNNING")]
            )
        )
        #expect(try ACSMessage.parse(verification.frame()) == verification)
        let manifest = ACSMessage.taskManifest(
            ACSTaskManifestMessage(
                messageId: "tm-1",
                clusterArn: "c",
                containerInstanceArn: "i",
                tasks: [],
                generatedAt: 1,
                timeline: 42
            )
        )
        #expect(try ACSMessage.parse(manifest.frame()) == manifest)
        #expect(
            try ACSMessage.parse(#"{"type":"CloseMessage","message":{"message":"ConnectionExpired"}}"#)
                == .close(ACSCloseMessage(message: "ConnectionExpired"))
        )
    }

    @Test("a type this side does not know is dropped, not an error")
    func unknownType() throws {
        #expect(try ACSMessage.parse(#"{"type":"IAMRoleCredentialsMessage","message":{"messageId":"x"}}"#) == nil)
    }

    @Test(
        "a frame that does not fit says where",
        arguments: [
            ("not json", "not an ACS frame"),
            (#"{"message":{}}"#, "type is missing"),
            (#"{"type":"HeartbeatMessage"}"#, "HeartbeatMessage: message is missing"),
            (#"{"type":"HeartbeatMessage","message":{"messageId":7}}"#, "message.messageId is not a string"),
            (
                #"{"type":"PayloadMessage","message":{"messageId":"m","tasks":[{"arn":"a","family":"f","desiredStatus":"RUNNING","containers":[{"name":"x"}]}]}}"#,
                "message.tasks[0].version is missing"
            ),
        ]
    )
    func badFrames(frame: String, expected: String) {
        #expect {
            _ = try ACSMessage.parse(frame)
        } throws: { error in
            guard let error = error as? ControlPlaneError, error.code == .badFrame else { return false }
            return error.message.contains(expected)
        }
    }

    @Test(
        "a task the agent cannot run refuses the payload, naming the member",
        arguments: [
            (#""version":"seven","desiredStatus":"RUNNING""#, "tasks[0].version: \"seven\" is not a revision number"),
            (#""version":"1","desiredStatus":"PAUSED""#, "tasks[0].desiredStatus"),
            (
                #""version":"1","desiredStatus":"RUNNING","networkMode":"overlay""#,
                "tasks[0].networkMode: \"overlay\""
            ),
            (#""version":"1","desiredStatus":"RUNNING","cpu":1e300"#, "tasks[0].cpu"),
        ]
    )
    func badTasks(members: String, expected: String) throws {
        let frame = """
            {"type":"PayloadMessage","message":{"messageId":"m","clusterArn":"c","tasks":[{"arn":"a","family":"f",\(members),"containers":[{"name":"x","image":"busybox"}]}]}}
            """
        guard case .payload(let message)? = try ACSMessage.parse(frame) else {
            Issue.record("not read as a payload")
            return
        }
        #expect {
            _ = try message.payloadMessage()
        } throws: { error in
            (error as? ControlPlaneError)?.message.contains(expected) == true
        }
    }

    @Test("a dockerConfig that is not the Engine API's JSON refuses the payload, naming the member")
    func badDockerConfig() throws {
        let frames = [
            (#"{\"User\":5}"#, "containers[0].dockerConfig.config: User is not a string"),
            (#"{"#, "containers[0].dockerConfig.config: not JSON"),
        ]
        for (config, expected) in frames {
            let frame = """
                {"type":"PayloadMessage","message":{"messageId":"m","clusterArn":"c","tasks":[{"arn":"a","family":"f","version":"1","desiredStatus":"RUNNING","containers":[{"name":"x","image":"busybox","dockerConfig":{"config":"\(config)"}}]}]}}
                """
            guard case .payload(let message)? = try ACSMessage.parse(frame) else {
                Issue.record("not read as a payload: \(frame)")
                continue
            }
            #expect {
                _ = try message.payloadMessage()
            } throws: { error in
                (error as? ControlPlaneError)?.message.contains(expected) == true
            }
        }
    }

    @Test("frames over the size limit are refused before they are read")
    func oversized() {
        let padding = String(repeating: "x", count: ACSMessage.maximumFrameSize)
        #expect(throws: ControlPlaneError.self) {
            _ = try ACSMessage.parse(#"{"type":"ErrorMessage","message":{"message":"\#(padding)"}}"#)
        }
    }

    @Test("any mutation of a valid frame is read or refused with badFrame, never more")
    func mutatedFrames() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...Int.max).array(of: 1...1)) { seeds in
            var random = SplitMix64(seed: UInt64(seeds[0]))
            let payload = PayloadMessage(messageID: "m", tasks: [Self.randomTask(&random)])
            var bytes = Array(
                ACSMessage.payload(
                    ACSPayloadMessage(payload, clusterArn: Self.cluster, containerInstanceArn: Self.instance)
                ).frame().utf8
            )
            // Flip, drop, duplicate or truncate a few bytes.
            for _ in 0..<Int.random(in: 1...6, using: &random) where !bytes.isEmpty {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch random.next() % 4 {
                case 0: bytes[index] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.remove(at: index)
                case 2: bytes.insert(bytes[index], at: index)
                default: bytes.removeSubrange(index...)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                if case .payload(let message)? = try ACSMessage.parse(text) {
                    _ = try message.payloadMessage()
                }
            } catch {
                #expect((error as? ControlPlaneError)?.code == .badFrame, "seed \(seeds[0]): \(error)")
            }
        }
    }

    // MARK: Random tasks

    /// What the channel does not keep: the order of environment variables and sysctls (maps in the
    /// model; the last of a repeated name wins, as in Docker).
    static func normalised(_ message: PayloadMessage) -> PayloadMessage {
        var message = message
        for taskIndex in message.tasks.indices {
            for index in message.tasks[taskIndex].containers.indices {
                var container = message.tasks[taskIndex].containers[index]
                container.environment = container.environment.map { variables in
                    Dictionary(variables.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
                        .sorted { $0.key < $1.key }.map { KeyValuePair(name: $0.key, value: $0.value) }
                }
                container.systemControls = container.systemControls.map { controls in
                    Dictionary(controls.map { ($0.namespace, $0.value) }, uniquingKeysWith: { _, last in last })
                        .sorted { $0.key < $1.key }.map { SystemControl(namespace: $0.key, value: $0.value) }
                }
                message.tasks[taskIndex].containers[index] = container
            }
        }
        return message
    }

    static func randomTask(_ random: inout SplitMix64) -> TaskPayload {
        let count = Int.random(in: 1...4, using: &random)
        let containers = (0..<count).map { Self.randomContainer("c\($0)", &random) }
        var task = TaskPayload(
            taskArn: "arn:aws:ecs:us-east-1:123456789012:task/default/\(random.next() % 100_000)",
            clusterArn: cluster,
            family: "family-\(random.next() % 10)",
            revision: Int.random(in: 1...500, using: &random),
            desiredStatus: Bool.random(using: &random) ? .running : .stopped,
            containers: containers,
            volumes: maybe(&random) {
                [
                    Volume(name: "scratch"),
                    Volume(name: "host", host: HostVolumeProperties(sourcePath: "/srv/\($0.next() % 9)")),
                    Volume(
                        name: "docker",
                        dockerVolumeConfiguration: DockerVolumeConfiguration(
                            scope: .task,
                            autoprovision: nil,
                            driver: "local",
                            driverOpts: ["o": "bind"],
                            labels: nil
                        )
                    ),
                ]
            } ?? [],
            networkMode: maybe(&random) { NetworkMode.allCases.randomElement(using: &$0) },
            cpu: maybe(&random) { Int.random(in: 0...4096, using: &$0) },
            memory: maybe(&random) { Int.random(in: 4...8192, using: &$0) }
        )
        task.stoppedReason = maybe(&random) { "Stopped by \(word(&$0))" }
        task.stopCode = maybe(&random) { TaskStopCode.allCases.randomElement(using: &$0) }
        task.containerArns = maybe(&random) { _ in
            Dictionary(uniqueKeysWithValues: containers.map { ($0.name, "arn:container/\($0.name)") })
        }
        return task
    }

    static func randomContainer(_ name: String, _ random: inout SplitMix64) -> ContainerDefinition {
        var container = ContainerDefinition(name: name, image: "registry.local/\(word(&random)):\(random.next() % 9)")
        container.cpu = maybe(&random) { Int.random(in: 0...2048, using: &$0) }
        container.memory = maybe(&random) { Int.random(in: 4...4096, using: &$0) }
        container.memoryReservation = maybe(&random) { Int.random(in: 4...4096, using: &$0) }
        container.essential = maybe(&random) { Bool.random(using: &$0) }
        container.entryPoint = maybe(&random) { ["/bin/sh", "-c"] + [word(&$0)] }
        container.command = maybe(&random) { random in (0..<3).map { _ in word(&random) } }
        container.environment = maybe(&random) { random in
            (0..<Int.random(in: 0...4, using: &random)).map { _ in
                KeyValuePair(name: "V\(random.next() % 4)", value: word(&random))
            }
        }
        container.links = maybe(&random) { ["other:\(word(&$0))"] }
        container.portMappings = maybe(&random) { random in
            [
                PortMapping(
                    containerPort: Int.random(in: 1...65535, using: &random),
                    hostPort: maybe(&random) { Int.random(in: 0...65535, using: &$0) },
                    protocol: maybe(&random) { TransportProtocol.allCases.randomElement(using: &$0) }
                )
            ]
        }
        container.mountPoints = maybe(&random) {
            [
                MountPoint(
                    sourceVolume: "scratch",
                    containerPath: "/data/\(word(&$0))",
                    readOnly: maybe(&$0) { _ in true }
                )
            ]
        }
        container.volumesFrom = maybe(&random) {
            [VolumeFrom(sourceContainer: "c0", readOnly: Bool.random(using: &$0))]
        }
        container.dependsOn = maybe(&random) {
            [
                ContainerDependency(
                    containerName: "c0",
                    condition: pick(ContainerCondition.allCases, &$0)
                )
            ]
        }
        container.startTimeout = maybe(&random) { Int.random(in: 1...600, using: &$0) }
        container.stopTimeout = maybe(&random) { Int.random(in: 1...120, using: &$0) }
        container.hostname = maybe(&random) { word(&$0) }
        container.user = maybe(&random) { "\($0.next() % 2000)" }
        container.workingDirectory = maybe(&random) { "/\(word(&$0))" }
        container.disableNetworking = maybe(&random) { Bool.random(using: &$0) }
        container.privileged = maybe(&random) { Bool.random(using: &$0) }
        container.readonlyRootFilesystem = maybe(&random) { Bool.random(using: &$0) }
        container.dnsServers = maybe(&random) { ["10.0.0.\($0.next() % 255)"] }
        container.dnsSearchDomains = maybe(&random) { ["\(word(&$0)).internal"] }
        container.extraHosts = maybe(&random) { random in
            [
                HostEntry(hostname: word(&random), ipAddress: "10.1.2.\(random.next() % 255)"),
                HostEntry(hostname: word(&random), ipAddress: "fd00::\(random.next() % 255)"),
            ]
        }
        container.dockerSecurityOptions = maybe(&random) { _ in ["no-new-privileges"] }
        container.interactive = maybe(&random) { Bool.random(using: &$0) }
        container.pseudoTerminal = maybe(&random) { Bool.random(using: &$0) }
        container.dockerLabels = maybe(&random) { ["team": word(&$0), "tier": "web"] }
        container.ulimits = maybe(&random) { random in
            [Ulimit(name: "nofile", softLimit: Int.random(in: 1...4096, using: &random), hardLimit: 65536)]
        }
        container.logConfiguration = maybe(&random) { random in
            LogConfiguration(
                logDriver: pick(LoggingDriver.allCases, &random),
                options: maybe(&random) { ["tag": word(&$0)] }
            )
        }
        container.healthCheck = maybe(&random) { random in
            HealthCheck(
                command: ["CMD-SHELL", word(&random)],
                interval: maybe(&random) { Int.random(in: 5...300, using: &$0) },
                timeout: maybe(&random) { Int.random(in: 2...60, using: &$0) },
                retries: maybe(&random) { Int.random(in: 1...10, using: &$0) },
                startPeriod: maybe(&random) { Int.random(in: 0...300, using: &$0) }
            )
        }
        container.systemControls = maybe(&random) { random in
            (0..<Int.random(in: 0...3, using: &random)).map { _ in
                SystemControl(namespace: "net.core.somaxconn\(random.next() % 2)", value: "\(random.next() % 4096)")
            }
        }
        return container
    }

    /// Half the time nil, as a definition leaves most members out.
    static func maybe<Value>(_ random: inout SplitMix64, _ make: (inout SplitMix64) -> Value?) -> Value? {
        Bool.random(using: &random) ? make(&random) : nil
    }

    static func pick<Value>(_ values: [Value], _ random: inout SplitMix64) -> Value {
        values[Int(random.next() % UInt64(values.count))]
    }

    static func word(_ random: inout SplitMix64) -> String {
        let words = ["alpha", "beta", "gamma", "délta", "e p s", "zeta\"quoted\"", "ëta/slash", "θ"]
        return words[Int(random.next() % UInt64(words.count))]
    }
}

/// A seeded generator, so that a failing case can be replayed from the seed printed with it.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
