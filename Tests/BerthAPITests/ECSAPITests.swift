import BerthAPI
import BerthAgentChannel
import BerthControlPlane
import BerthModel
import BerthTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SigV4
import Testing

/// The ECS API in process: dispatch, validation against the model, error shapes, pagination, signatures.
@Suite("ECS API: the JSON 1.1 protocol")
struct ECSAPITests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    struct Answer: Sendable {
        var status: HTTPResponse.Status
        var body: Data
        var headers: HTTPFields

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }

        var errorType: String? { json["__type"] as? String }
        var message: String? { json["message"] as? String }
    }

    typealias Call = @Sendable (String, String, HTTPFields) async throws -> Answer

    /// Calls `operation` with `body` on a fresh API and returns the answer.
    static func withAPI(
        verifier: SigV4Verifier? = nil,
        _ body: @escaping @Sendable (_ call: Call) async throws -> Void
    ) async throws {
        try await withAPI(verifier: verifier) { call, _ in try await body(call) }
    }

    /// The same, with the control plane behind the API, for what its loops do (the scheduler's passes).
    static func withAPI(
        verifier: SigV4Verifier? = nil,
        _ body: @escaping @Sendable (_ call: Call, _ plane: ControlPlane) async throws -> Void
    ) async throws {
        let plane = try await ControlPlane(
            store: InMemoryClusterStore(),
            settings: ControlPlane.Settings(region: "eu-west-1", account: "111122223333"),
            logger: logger
        )
        try await withAPI(on: plane, verifier: verifier, body)
    }

    /// The API of `plane`.
    static func withAPI(
        on plane: ControlPlane,
        verifier: SigV4Verifier? = nil,
        _ body: @escaping @Sendable (_ call: Call, _ plane: ControlPlane) async throws -> Void
    ) async throws {
        let app = Application(
            router: ECSAPIRouter.make(controlPlane: plane, endpoint: "http://127.0.0.1:1", verifier: verifier),
            logger: logger
        )
        try await app.test(.router) { client in
            try await body(
                { operation, json, extra in
                    var headers: HTTPFields = [.contentType: "application/x-amz-json-1.1"]
                    if !operation.isEmpty {
                        headers[ECSAPIRouterHeaders.target] =
                            "AmazonEC2ContainerServiceV20141113.\(operation)"
                    }
                    headers.append(contentsOf: extra)
                    return try await client.execute(
                        uri: "/",
                        method: .post,
                        headers: headers,
                        body: ByteBuffer(string: json)
                    ) {
                        response in
                        Answer(
                            status: response.status,
                            body: Data(response.body.readableBytesView),
                            headers: response.headers
                        )
                    }
                },
                plane
            )
        }
    }

    @Test("answers carry the JSON 1.1 content type and a request ID; timestamps are epoch seconds")
    func success() async throws {
        try await Self.withAPI { call in
            let created = try await call(
                "CreateCluster",
                #"{"clusterName":"demo","tags":[{"key":"team","value":"a"}]}"#,
                [:]
            )
            #expect(created.status == .ok)
            #expect(created.headers[.contentType] == "application/x-amz-json-1.1")
            #expect(created.headers[ECSAPIRouterHeaders.requestID]?.isEmpty == false)
            let cluster = try #require(created.json["cluster"] as? [String: Any])
            #expect(cluster["clusterArn"] as? String == "arn:aws:ecs:eu-west-1:111122223333:cluster/demo")
            #expect(cluster["status"] as? String == "ACTIVE")

            let registered = try await call(
                "RegisterTaskDefinition",
                #"{"family":"web","containerDefinitions":[{"name":"a","image":"busybox","memory":32}]}"#,
                [:]
            )
            let definition = try #require(registered.json["taskDefinition"] as? [String: Any])
            #expect(definition["registeredAt"] is Double || definition["registeredAt"] is Int)
            #expect(definition["revision"] as? Int == 1)

            let described = try await call("DescribeClusters", #"{"clusters":["demo","gone"],"include":["TAGS"]}"#, [:])
            let clusters = try #require(described.json["clusters"] as? [[String: Any]])
            #expect((clusters.first?["tags"] as? [[String: String]])?.first?["key"] == "team")
            let failures = try #require(described.json["failures"] as? [[String: Any]])
            #expect(failures.first?["reason"] as? String == "MISSING")
            #expect(failures.first?["arn"] as? String == "arn:aws:ecs:eu-west-1:111122223333:cluster/gone")
        }
    }

    @Test(
        "bad requests are 400 with the ECS exception name and a message that names the member",
        arguments: [
            ("CreateCluster", "not json", "SerializationException", "JSON"),
            ("CreateCluster", #"{"clusterName": 5}"#, "SerializationException", "clusterName"),
            ("RunTask", #"{"cluster":"x"}"#, "InvalidParameterException", "taskDefinition"),
            ("ListTasks", #"{"desiredStatus":"SLEEPING"}"#, "InvalidParameterException", "desiredStatus"),
            ("ListClusters", #"{"maxResults": 500}"#, "InvalidParameterException", "maxResults"),
            ("ListClusters", #"{"nextToken": "garbage"}"#, "InvalidParameterException", "nextToken"),
            ("DescribeTasks", #"{"cluster":"nope","tasks":["a"]}"#, "ClusterNotFoundException", "Cluster not found"),
            ("DescribeTaskDefinition", #"{"taskDefinition":"nope:3"}"#, "ClientException", "task definition"),
            (
                "TagResource", #"{"resourceArn":"arn:aws:ecs:eu-west-1:111122223333:cluster/none","tags":[]}"#,
                "ResourceNotFoundException", "resource"
            ),
            ("FlyToTheMoon", "{}", "UnknownOperationException", "FlyToTheMoon"),
            // The model's operations that cannot apply here say why, in an exception their model lists.
            (
                "CreateExpressGatewayService",
                #"{"executionRoleArn":"r","infrastructureRoleArn":"r","primaryContainer":{"image":"nginx"}}"#,
                "UnsupportedFeatureException", "Express Gateway"
            ),
            ("DescribeExpressGatewayService", #"{"serviceArn":"s"}"#, "UnsupportedFeatureException", "CreateService"),
            (
                "ExecuteCommand", #"{"command":"sh","interactive":true,"task":"t"}"#, "ClientException",
                "Session Manager"
            ),
            ("UpdateContainerAgent", #"{"containerInstance":"i"}"#, "ClientException", "Debian package"),
            ("SubmitAttachmentStateChanges", #"{"attachments":[]}"#, "ClientException", "network interfaces"),
            ("ListServicesByNamespace", #"{"namespace":"n"}"#, "ClientException", "Service Connect"),
            ("", "{}", "UnknownOperationException", "X-Amz-Target"),
        ]
    )
    func badRequests(operation: String, body: String, type: String, mentions: String) async throws {
        try await Self.withAPI { call in
            let answer = try await call(operation, body, [:])
            #expect(answer.status == .badRequest)
            #expect(answer.errorType == type, "\(answer.json)")
            #expect(answer.message?.contains(mentions) == true, "\(answer.json)")
        }
    }

    @Test(
        "services: ECS's errors for duplicates, unknown and inactive services, scale without force, other controllers"
    )
    func serviceErrors() async throws {
        try await Self.withAPI { call, plane in
            _ = try await call("CreateCluster", #"{"clusterName":"default"}"#, [:])
            _ = try await call(
                "RegisterTaskDefinition",
                #"{"family":"web","containerDefinitions":[{"name":"a","image":"busybox","memory":32}]}"#,
                [:]
            )
            let created = try await call(
                "CreateService",
                #"{"serviceName":"web","taskDefinition":"web","desiredCount":2}"#,
                [:]
            )
            #expect(created.status == .ok, "\(created.json)")
            let service = try #require(created.json["service"] as? [String: Any])
            #expect(service["serviceArn"] as? String == "arn:aws:ecs:eu-west-1:111122223333:service/default/web")
            let configuration = service["deploymentConfiguration"] as? [String: Any]
            #expect(configuration?["maximumPercent"] as? Int == 200)
            #expect(configuration?["minimumHealthyPercent"] as? Int == 100)
            // No instance: the scheduler's pass (which CreateService made due) says why it cannot place, in
            // ECS's words.
            await plane.reconcileServices(dueOnly: true)
            let afterPass = try await call("DescribeServices", #"{"services":["web"]}"#, [:])
            let passed = (afterPass.json["services"] as? [[String: Any]])?.first
            let events = (passed?["events"] as? [[String: Any]])?.compactMap { $0["message"] as? String } ?? []
            #expect(events.contains { $0.contains("No Container Instances were found in your cluster.") }, "\(events)")

            let cases: [(String, String, String)] = [
                (
                    "CreateService", #"{"serviceName":"web","taskDefinition":"web","desiredCount":1}"#,
                    "InvalidParameterException"
                ),
                (
                    "CreateService", #"{"serviceName":"bad name","taskDefinition":"web","desiredCount":1}"#,
                    "InvalidParameterException"
                ),
                (
                    "CreateService",
                    #"{"serviceName":"cd","taskDefinition":"web","desiredCount":1,"deploymentController":{"type":"CODE_DEPLOY"}}"#,
                    "InvalidParameterException"
                ),
                ("CreateService", #"{"serviceName":"x","taskDefinition":"nope","desiredCount":1}"#, "ClientException"),
                (
                    "CreateService",
                    #"{"serviceName":"d","taskDefinition":"web","schedulingStrategy":"DAEMON","placementStrategy":[{"type":"random"}]}"#,
                    "InvalidParameterException"
                ),
                ("UpdateService", #"{"service":"ghost","desiredCount":1}"#, "ServiceNotFoundException"),
                ("DeleteService", #"{"service":"web"}"#, "InvalidParameterException"),
            ]
            for (operation, body, type) in cases {
                let answer = try await call(operation, body, [:])
                #expect(answer.status == .badRequest)
                #expect(answer.errorType == type, "\(operation) \(body): \(answer.json)")
            }
            let refused = try await call("DeleteCluster", #"{"cluster":"default"}"#, [:])
            #expect(refused.errorType == "ClusterContainsServicesException")

            let arn = "arn:aws:ecs:eu-west-1:111122223333:service/default/web"
            let tagged = try await call(
                "TagResource",
                #"{"resourceArn":"\#(arn)","tags":[{"key":"team","value":"b"}]}"#,
                [:]
            )
            #expect(tagged.status == .ok, "\(tagged.json)")
            let tags = try await call("ListTagsForResource", #"{"resourceArn":"\#(arn)"}"#, [:])
            #expect((tags.json["tags"] as? [[String: String]]) == [["key": "team", "value": "b"]])
            let withTags = try await call("DescribeServices", #"{"services":["web"],"include":["TAGS"]}"#, [:])
            #expect(
                ((withTags.json["services"] as? [[String: Any]])?.first?["tags"] as? [[String: String]])?.count == 1
            )

            let deleted = try await call("DeleteService", #"{"service":"web","force":true}"#, [:])
            #expect(deleted.status == .ok)
            await plane.reconcileServices(dueOnly: true)
            let inactive = try await call("UpdateService", #"{"service":"web","desiredCount":1}"#, [:])
            #expect(inactive.errorType == "ServiceNotActiveException", "\(inactive.json)")
            let described = try await call("DescribeServices", #"{"services":["web","ghost"]}"#, [:])
            #expect((described.json["services"] as? [[String: Any]])?.first?["status"] as? String == "INACTIVE")
            let failures = described.json["failures"] as? [[String: Any]]
            #expect(failures?.first?["reason"] as? String == "MISSING")
            #expect(failures?.first?["arn"] as? String == "arn:aws:ecs:eu-west-1:111122223333:service/default/ghost")
            let listed = try await call("ListServices", "{}", [:])
            #expect((listed.json["serviceArns"] as? [String]) == [])
        }
    }

    @Test(
        "numbers that once trapped the process (task cpu 1e300, memory nan, an inf override, huge counts) are refused with ECS's errors, and the API answers after"
    )
    func numbersThatTrapped() async throws {
        try await Self.withAPI { call in
            _ = try await call("CreateCluster", "{}", [:])
            let instance = try await call(
                "RegisterContainerInstance",
                #"{"totalResources":[{"name":"CPU","type":"INTEGER","integerValue":2048},{"name":"MEMORY","type":"INTEGER","integerValue":4096}]}"#,
                [:]
            )
            #expect(instance.status == .ok)
            func definition(cpu: String, memory: String = "512", containerCPU: Int = 10) -> String {
                #"{"family":"f","cpu":"\#(cpu)","memory":"\#(memory)","containerDefinitions":[{"name":"a","image":"busybox","cpu":\#(containerCPU)}]}"#
            }
            for (body, type, fragment) in [
                (definition(cpu: "1e300"), "ClientException", "Invalid 'cpu'"),
                (definition(cpu: "256", memory: "nan"), "ClientException", "Invalid 'memory'"),
                (definition(cpu: "inf"), "ClientException", "Invalid 'cpu'"),
                (definition(cpu: "-1024"), "ClientException", "Invalid 'cpu'"),
                (definition(cpu: "0.0000001 vCPU"), "ClientException", "Invalid 'cpu'"),
                (definition(cpu: "256", memory: "99999999999999999999 GB"), "ClientException", "Invalid 'memory'"),
                (definition(cpu: "256", containerCPU: 2_147_483_647), "ClientException", "cpu"),
                (
                    definition(cpu: "256", containerCPU: 9_223_372_036_854_775_807), "InvalidParameterException",
                    "at most"
                ),
            ] {
                let answer = try await call("RegisterTaskDefinition", body, [:])
                #expect(answer.status == .badRequest, "\(body)")
                #expect(answer.errorType == type, "\(body): \(answer.message ?? "")")
                #expect(answer.message?.contains(fragment) == true, "\(body): \(answer.message ?? "")")
            }
            let registered = try await call("RegisterTaskDefinition", definition(cpu: "0.25 vCPU", memory: "1 GB"), [:])
            #expect(registered.status == .ok)
            let described = (registered.json["taskDefinition"] as? [String: Any]) ?? [:]
            #expect(described["cpu"] as? String == "256" && described["memory"] as? String == "1024")
            for overrides in [
                #"{"cpu":"inf"}"#, #"{"memory":"nan"}"#, #"{"containerOverrides":[{"name":"a","memory":1}]}"#,
            ] {
                let answer = try await call("RunTask", #"{"taskDefinition":"f","overrides":\#(overrides)}"#, [:])
                #expect(answer.status == .badRequest && answer.errorType == "ClientException", "\(overrides)")
            }
            for (operation, body) in [
                ("CreateService", #"{"serviceName":"s","taskDefinition":"f","desiredCount":2147483648}"#),
                ("CreateService", #"{"serviceName":"s","taskDefinition":"f","desiredCount":5001}"#),
                (
                    "CreateService",
                    #"{"serviceName":"s","taskDefinition":"f","desiredCount":1,"deploymentConfiguration":{"maximumPercent":2147483647000}}"#
                ),
                ("SubmitTaskStateChange", #"{"task":"t","status":"RUNNING","pullStartedAt":1e300}"#),
                ("RunTask", #"{"taskDefinition":"f","count":1e300}"#),
            ] {
                let answer = try await call(operation, body, [:])
                #expect(answer.status == .badRequest, "\(body): \(answer.message ?? "")")
                #expect(["InvalidParameterException", "SerializationException"].contains(answer.errorType ?? ""))
            }
            #expect(try await call("ListClusters", "{}", [:]).status == .ok)
        }
    }

    @Test("ECS's size quotas: a task definition of at most 64 KiB, overrides of at most 8192 characters")
    func sizeQuotas() async throws {
        try await Self.withAPI { call in
            _ = try await call("CreateCluster", "{}", [:])
            let long = String(repeating: "z", count: 70_000)
            let tooLarge = try await call(
                "RegisterTaskDefinition",
                #"{"family":"f","containerDefinitions":[{"name":"a","image":"busybox","memory":16,"command":["\#(long)"]}]}"#,
                [:]
            )
            #expect(tooLarge.status == .badRequest && tooLarge.errorType == "ClientException")
            #expect(tooLarge.message?.contains("65536") == true, "\(tooLarge.message ?? "")")
            let fits = try await call(
                "RegisterTaskDefinition",
                #"{"family":"f","containerDefinitions":[{"name":"a","image":"busybox","memory":16,"command":["\#(long.prefix(60_000))"]}]}"#,
                [:]
            )
            #expect(fits.status == .ok)
            let overrides = try await call(
                "RunTask",
                #"{"taskDefinition":"f","overrides":{"containerOverrides":[{"name":"a","command":["\#(long.prefix(9000))"]}]}}"#,
                [:]
            )
            #expect(overrides.status == .badRequest && overrides.errorType == "InvalidParameterException")
            #expect(overrides.message?.contains("8192") == true)
        }
    }

    @Test("other methods and paths on the API's port get ECS-shaped 404s, not an empty body")
    func otherRoutes() async throws {
        let plane = try await ControlPlane(
            store: InMemoryClusterStore(),
            settings: ControlPlane.Settings(region: "eu-west-1", account: "111122223333"),
            logger: Self.logger
        )
        let app = Application(
            router: ECSAPIRouter.make(controlPlane: plane, endpoint: "http://127.0.0.1:1"),
            logger: Self.logger
        )
        try await app.test(.router) { client in
            for (method, uri) in [
                (HTTPRequest.Method.get, "/"), (.put, "/"), (.post, "/v1/../x"), (.delete, "/metrics"),
            ] {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .notFound, "\(method) \(uri)")
                    let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
                    let json = object as? [String: Any]
                    #expect(json?["__type"] as? String == "UnknownOperationException", "\(method) \(uri)")
                    #expect((json?["message"] as? String)?.contains("POST /") == true)
                }
            }
        }
    }

    @Test("pagination: pages of maxResults, a nextToken that moves on, none after the last page")
    func pagination() async throws {
        try await Self.withAPI { call in
            for index in 0..<5 { _ = try await call("CreateCluster", #"{"clusterName":"c\#(index)"}"#, [:]) }
            var seen: [String] = []
            var tokens: [String] = []
            var token: String?
            repeat {
                let body = token.map { #"{"maxResults":2,"nextToken":"\#($0)"}"# } ?? #"{"maxResults":2}"#
                let page = try await call("ListClusters", body, [:])
                let arns = try #require(page.json["clusterArns"] as? [String])
                #expect(arns.count <= 2)
                seen += arns
                token = page.json["nextToken"] as? String
                if let token { tokens.append(token) }
            } while token != nil
            #expect(
                seen.map { $0.split(separator: "/").last.map(String.init) ?? "" } == ["c0", "c1", "c2", "c3", "c4"]
            )
            #expect(Set(tokens).count == tokens.count)
        }
    }

    @Test("pagination holds while clusters come and go between pages: none present throughout is skipped or repeated")
    func paginationUnderChange() async throws {
        let seed = SeededRandom.make("ECSAPITests.paginationUnderChange").seed
        try await Self.withAPI { call in
            var random = SeededRandom(seed: seed)
            var live = Set<String>()
            var created = 0
            func create() async throws {
                let name = String(format: "c%03d", created)
                created += 1
                _ = try await call("CreateCluster", #"{"clusterName":"\#(name)"}"#, [:])
                live.insert(name)
            }
            for _ in 0..<30 { try await create() }
            for round in 0..<4 {
                let before = live
                var removed = Set<String>()
                var seen: [String] = []
                var token: String?
                repeat {
                    let size = Int.random(in: 1...4, using: &random)
                    let body =
                        token.map { #"{"maxResults":\#(size),"nextToken":"\#($0)"}"# } ?? #"{"maxResults":\#(size)}"#
                    let page = try await call("ListClusters", body, [:])
                    let arns = try #require(page.json["clusterArns"] as? [String], "\(page.json)")
                    seen += arns.map { $0.split(separator: "/").last.map(String.init) ?? "" }
                    token = page.json["nextToken"] as? String
                    // Between pages: clusters deleted (seen or not yet) and created (before or after the cursor).
                    for _ in 0..<Int.random(in: 0...2, using: &random) {
                        guard let victim = live.randomElement(using: &random) else { break }
                        _ = try await call("DeleteCluster", #"{"cluster":"\#(victim)"}"#, [:])
                        live.remove(victim)
                        removed.insert(victim)
                    }
                    for _ in 0..<Int.random(in: 0...2, using: &random) { try await create() }
                } while token != nil
                #expect(Set(seen).count == seen.count, "round \(round): repeated \(seen)")
                let throughout = before.subtracting(removed)
                #expect(throughout.isSubset(of: Set(seen)), "round \(round): skipped \(throughout.subtracting(seen))")
                #expect(seen == seen.sorted(), "round \(round): out of order")
            }
        }
    }

    @Test("ListTaskDefinitions pages in descending order as well, and a foreign nextToken is refused")
    func descendingPagination() async throws {
        try await Self.withAPI { call in
            let definition = #"{"family":"app","containerDefinitions":[{"name":"a","image":"busybox","memory":32}]}"#
            for _ in 0..<7 { _ = try await call("RegisterTaskDefinition", definition, [:]) }
            var revisions: [String] = []
            var token: String?
            repeat {
                let body =
                    token.map { #"{"sort":"DESC","maxResults":3,"nextToken":"\#($0)"}"# }
                    ?? #"{"sort":"DESC","maxResults":3}"#
                let page = try await call("ListTaskDefinitions", body, [:])
                let arns = try #require(page.json["taskDefinitionArns"] as? [String])
                revisions += arns.map { $0.split(separator: ":").last.map(String.init) ?? "" }
                token = page.json["nextToken"] as? String
                // A new revision sorts before the cursor in descending order: not listed, nothing repeated.
                _ = try await call("RegisterTaskDefinition", definition, [:])
            } while token != nil
            #expect(revisions == ["7", "6", "5", "4", "3", "2", "1"])
            // The offset tokens of earlier versions, and anything else not ours.
            let offset = Data("berth:3".utf8).base64EncodedString()
            for bad in [offset, "garbage", Data("berth1:{".utf8).base64EncodedString()] {
                let answer = try await call("ListTaskDefinitions", #"{"nextToken":"\#(bad)"}"#, [:])
                #expect(answer.errorType == "InvalidParameterException")
                #expect(answer.message?.contains("nextToken") == true)
            }
        }
    }

    @Test("with credentials: a botocore-style signature passes; unsigned, unknown key, bad signature and skew fail")
    func signatures() async throws {
        let verifier = SigV4Verifier(secrets: ["AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"])
        try await Self.withAPI(verifier: verifier) { call in
            let body = #"{"maxResults": 5}"#
            let unsigned = try await call("ListClusters", body, [:])
            #expect(unsigned.errorType == "MissingAuthenticationTokenException")

            func signed(key: String, secret: String, at date: Date) -> HTTPFields {
                let amzDate = Self.amzDate(date)
                let day = String(amzDate.prefix(8))
                let canonical = [
                    "POST", "/", "",
                    "content-type:application/x-amz-json-1.1\nhost:localhost\nx-amz-date:\(amzDate)\nx-amz-target:AmazonEC2ContainerServiceV20141113.ListClusters\n",
                    "content-type;host;x-amz-date;x-amz-target", Self.sha256(body),
                ].joined(separator: "\n")
                let stringToSign = [
                    "AWS4-HMAC-SHA256", amzDate, "\(day)/eu-west-1/ecs/aws4_request", Self.sha256(canonical),
                ].joined(separator: "\n")
                let signature = SigV4Verifier.signature(
                    secret: secret,
                    date: day,
                    region: "eu-west-1",
                    service: "ecs",
                    stringToSign: stringToSign
                )
                return [
                    ECSAPIRouterHeaders.date: amzDate,
                    .authorization:
                        "AWS4-HMAC-SHA256 Credential=\(key)/\(day)/eu-west-1/ecs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=\(signature)",
                ]
            }
            let good = try await call(
                "ListClusters",
                body,
                signed(key: "AKIDEXAMPLE", secret: verifier.secrets["AKIDEXAMPLE"] ?? "", at: Date())
            )
            #expect(good.status == .ok, "\(good.json)")
            let unknown = try await call("ListClusters", body, signed(key: "AKIDOTHER", secret: "x", at: Date()))
            #expect(unknown.errorType == "UnrecognizedClientException")
            let wrong = try await call("ListClusters", body, signed(key: "AKIDEXAMPLE", secret: "wrong", at: Date()))
            #expect(wrong.errorType == "InvalidSignatureException")
            let old = try await call(
                "ListClusters",
                body,
                signed(
                    key: "AKIDEXAMPLE",
                    secret: verifier.secrets["AKIDEXAMPLE"] ?? "",
                    at: Date().addingTimeInterval(-600)
                )
            )
            #expect(old.errorType == "InvalidSignatureException")
            #expect(old.message?.hasPrefix("Signature expired") == true)
        }
    }

    @Test("the signature of the reference vector: botocore's, re-derived")
    func referenceVector() {
        let canonical = """
            POST
            /

            content-type:application/x-amz-json-1.1
            host:127.0.0.1:5123
            x-amz-date:20261121T233945Z
            x-amz-target:AmazonEC2ContainerServiceV20141113.ListClusters

            content-type;host;x-amz-date;x-amz-target
            \(Self.sha256(#"{"maxResults": 5}"#))
            """
        #expect(
            Self.sha256(#"{"maxResults": 5}"#) == "a9beb71dc23498443f6ea1378ccbcc2e2b403a8ada90e04221a5e5c2e569eebc"
        )
        let stringToSign =
            "AWS4-HMAC-SHA256\n20261121T233945Z\n20261121/us-east-1/ecs/aws4_request\n\(Self.sha256(canonical))"
        let signature = SigV4Verifier.signature(
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            date: "20261121",
            region: "us-east-1",
            service: "ecs",
            stringToSign: stringToSign
        )
        #expect(signature == "421f9d1c83ea7518784999df537ba3b00aaa8e1e16bf9411d74d17d331bc0d95")
    }

    @Test("credentials files in the aws CLI's format: every section is one key pair")
    func credentialsFile() {
        let secrets = CredentialsFile.parse(
            """
            # operators
            [alice]
            aws_access_key_id = AKIDALICE
            aws_secret_access_key = secret-a

            [bob]
            aws_access_key_id=AKIDBOB
            aws_secret_access_key=secret=b
            [incomplete]
            aws_access_key_id = AKIDNOSECRET
            """
        )
        #expect(secrets == ["AKIDALICE": "secret-a", "AKIDBOB": "secret=b"])
    }

    static func sha256(_ text: String) -> String {
        SigV4Verifier.sha256Hex(Data(text.utf8))
    }

    static func amzDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date)
    }
}

/// Header names the tests send and read.
enum ECSAPIRouterHeaders {
    static let target = name("X-Amz-Target")
    static let requestID = name("x-amzn-RequestId")
    static let date = name("X-Amz-Date")

    static func name(_ text: String) -> HTTPField.Name {
        guard let name = HTTPField.Name(text) else { preconditionFailure("'\(text)' is not a header name") }
        return name
    }
}
