import BerthModel
import PropertyBased
import Testing

@Suite("Model validation")
struct ModelValidationTests {
    @Test("attributes follow ECS's character rules")
    func attributes() throws {
        #expect(try Attribute(name: "ecs.os-type", value: "linux").description == "ecs.os-type=linux")
        #expect(try Attribute(name: "com.amazonaws.ecs.capability.privileged-container", value: nil).value == nil)
        #expect(try Attribute(name: "a/b\\c_d", value: "x@y:z w").name == "a/b\\c_d")
        #expect(throws: ModelError.self) { try Attribute(name: "", value: "x") }
        #expect(throws: ModelError.self) { try Attribute(name: String(repeating: "a", count: 129), value: "x") }
        #expect(throws: ModelError.self) { try Attribute(name: "bad name", value: "x") }
        #expect(throws: ModelError.self) { try Attribute(name: "a", value: "") }
        #expect(throws: ModelError.self) { try Attribute(name: "a", value: "trailing ") }
        #expect(throws: ModelError.self) { try Attribute(name: "a", value: "semi;colon") }
    }

    @Test("regions, accounts and clusters")
    func identifiers() throws {
        for region in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "ap-southeast-5"] {
            #expect(try AWSRegion(region).name == region)
        }
        for region in ["", "useast1", "us-east", "US-EAST-1", "us-east-x", "us--1", "us-east-100"] {
            #expect(throws: ModelError.self) { try AWSRegion(region) }
        }
        #expect(try AccountID("000000000000").digits == "000000000000")
        #expect(throws: ModelError.self) { try AccountID("1234567890123") }
        #expect(throws: ModelError.self) { try AccountID("12345678901a") }
        #expect(try ClusterName("my_cluster-1").value == "my_cluster-1")
        #expect(try ClusterName(nameOrARN: "arn:aws:ecs:us-east-1:123456789012:cluster/prod").value == "prod")
        #expect(throws: ModelError.self) { try ClusterName(String(repeating: "c", count: 256)) }
        #expect(throws: ModelError.self) {
            try ClusterName(nameOrARN: "arn:aws:ecs:us-east-1:123456789012:task/prod/1")
        }
    }

    @Test("port ranges")
    func portRanges() throws {
        let range = try PortRange(parsing: " 32768 - 60999 ")
        #expect(range.description == "32768-60999")
        #expect(range.count == 28232)
        #expect(range.contains(32768) && range.contains(60999) && !range.contains(61000))
        for text in ["", "1", "0-10", "10-5", "a-b", "1-2-3", "1-70000"] {
            #expect(throws: ModelError.self) { try PortRange(parsing: text) }
        }
    }

    @Test("any valid range prints as it parses")
    func portRangeRoundTrip() async {
        await propertyCheck(input: Gen<UInt16>.value(in: 1...65535), Gen<UInt16>.value(in: 1...65535)) { a, b in
            let (start, end) = (min(a, b), max(a, b))
            #expect((try? PortRange(parsing: "\(start)-\(end)")) == (try? PortRange(start: start, end: end)))
            #expect((try? PortRange(start: start, end: end))?.count == Int(end) - Int(start) + 1)
        }
    }
}
