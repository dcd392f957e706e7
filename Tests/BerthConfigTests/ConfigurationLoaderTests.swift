import BerthConfig
import BerthModel
import Testing

@Suite("Loading ecs.config")
struct ConfigurationLoaderTests {
    @Test("defaults are the ECS agent's, with Berth's data directory and its own keys")
    func defaults() throws {
        let loaded = try load(nil, environment: ["AWS_DEFAULT_REGION": "eu-west-1", "HOME": "/root"])
        let configuration = loaded.configuration
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.filePath == nil)
        #expect(configuration.cluster.value == "default")
        #expect(configuration.region.name == "eu-west-1")
        #expect(configuration.backendHost == nil)
        #expect(configuration.runsEmbeddedControlPlane)
        #expect(configuration.dockerHost == .unixSocket(path: "/var/run/docker.sock"))
        #expect(configuration.dataDirectory == "/var/lib/ecs/data")
        #expect(configuration.checkpoint)
        #expect(configuration.logLevel == .info)
        #expect(configuration.reservedPorts == [22, 2375, 2376, 51678, 51679])
        #expect(configuration.reservedPortsUDP == [])
        #expect(configuration.reservedMemoryMiB == 0)
        #expect(configuration.engineAuthentication == nil)
        #expect(configuration.availableLoggingDrivers == [.jsonFile, .none])
        #expect(configuration.containerStopTimeout == .seconds(30))
        #expect(configuration.containerStartTimeout == .seconds(180))
        #expect(configuration.containerCreateTimeout == .seconds(240))
        #expect(configuration.imagePullBehavior == .default)
        #expect(configuration.imagePullInactivityTimeout == .seconds(60))
        #expect(configuration.taskCleanupWaitDuration == .seconds(3 * 3600))
        #expect(!configuration.imageCleanupDisabled)
        #expect(configuration.imageCleanupInterval == .seconds(30 * 60))
        #expect(configuration.imageMinimumCleanupAge == .seconds(3600))
        #expect(configuration.imagesDeletedPerCycle == 5)
        #expect(configuration.instanceAttributes.isEmpty)
        #expect(!configuration.privilegedDisabled)
        #expect(!configuration.selinuxCapable)
        #expect(!configuration.apparmorCapable)
        #expect(configuration.dynamicHostPortRange == kernelRange)
        #expect(configuration.apiListen.description == "127.0.0.1:51680")
        #expect(configuration.accountID.digits == "123456789012")
        #expect(configuration.taskMetadataRateLimit == RequestRateLimit(steady: 40, burst: 60))
    }

    @Test("every key is read from the file, with its line as origin")
    func everyKey() throws {
        let loaded = try load(
            """
            ECS_CLUSTER=prod
            AWS_DEFAULT_REGION=ap-southeast-2
            ECS_BACKEND_HOST=https://10.0.0.5:51680
            DOCKER_HOST=tcp://127.0.0.1:2375
            ECS_DATADIR=/srv/berth
            ECS_CHECKPOINT=false
            ECS_LOGLEVEL=DEBUG
            ECS_RESERVED_PORTS=[22, 80, 80]
            ECS_RESERVED_PORTS_UDP=[53]
            ECS_RESERVED_MEMORY=256
            ECS_ENGINE_AUTH_TYPE=docker
            ECS_ENGINE_AUTH_DATA={"127.0.0.1:51671":{"username":"berth","password":"pw"}}
            ECS_AVAILABLE_LOGGING_DRIVERS=["json-file","syslog","awslogs"]
            ECS_CONTAINER_STOP_TIMEOUT=10s
            ECS_CONTAINER_START_TIMEOUT=5m
            ECS_CONTAINER_CREATE_TIMEOUT=2m
            ECS_IMAGE_PULL_BEHAVIOR=prefer-cached
            ECS_IMAGE_PULL_INACTIVITY_TIMEOUT=2m
            ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=10m
            ECS_DISABLE_IMAGE_CLEANUP=true
            ECS_IMAGE_CLEANUP_INTERVAL=1h
            ECS_IMAGE_MINIMUM_CLEANUP_AGE=30m
            ECS_NUM_IMAGES_DELETE_PER_CYCLE=9
            ECS_INSTANCE_ATTRIBUTES={"stack":"prod","team":"core"}
            ECS_DISABLE_PRIVILEGED=true
            ECS_SELINUX_CAPABLE=1
            ECS_APPARMOR_CAPABLE=T
            ECS_DYNAMIC_HOST_PORT_RANGE=40000-40100
            BERTH_API_LISTEN=0.0.0.0:9000
            BERTH_ACCOUNT_ID=000011112222
            BERTH_API_CREDENTIALS_FILE=/etc/ecs/berth-api-credentials
            BERTH_INTROSPECTION_LISTEN=127.0.0.1:61678
            BERTH_TASK_METADATA_PORT=61679
            BERTH_STOPPED_TASK_RETENTION=3h
            ECS_TASK_METADATA_RPS_LIMIT=100, 150
            BERTH_INSTANCE_ID=host-17.rack-3
            BERTH_AVAILABILITY_ZONE=dc1-room2
            BERTH_INSTANCE_LOST_AFTER=2m
            BERTH_CHANNEL_HEARTBEAT_INTERVAL=5s
            BERTH_CHANNEL_SILENCE_TIMEOUT=15s
            BERTH_CHANNEL_LIFETIME=10m
            BERTH_DATABASE_URL=postgres://berth:db-secret@db.example:5432/berth?sslmode=verify-full
            BERTH_ADVERTISE_URL=https://cp-2.example:51680
            BERTH_TLS_CERTIFICATE=/etc/ecs/berth.crt
            BERTH_TLS_KEY=/etc/ecs/berth.key
            AWS_ACCESS_KEY_ID=AKIDEXAMPLEAGENT01
            AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
            BERTH_BACKEND_CA_FILE=/etc/ecs/control-plane-ca.pem
            """
        )
        let configuration = loaded.configuration
        #expect(loaded.warnings.isEmpty)
        #expect(configuration.cluster.value == "prod")
        #expect(configuration.region.name == "ap-southeast-2")
        #expect(configuration.backendHost == "https://10.0.0.5:51680")
        #expect(configuration.backendAccessKeyID == "AKIDEXAMPLEAGENT01")
        #expect(configuration.backendSecretAccessKey == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        #expect(configuration.backendCAFile == "/etc/ecs/control-plane-ca.pem")
        #expect(configuration.channelHeartbeatInterval == .seconds(5))
        #expect(configuration.channelSilenceTimeout == .seconds(15))
        #expect(configuration.channelLifetime == .seconds(600))
        #expect(configuration.databaseURL?.endpoint == .tcp(host: "db.example", port: 5432))
        #expect(configuration.advertiseURL == "https://cp-2.example:51680")
        #expect(configuration.databaseURL?.password == "db-secret")
        #expect(!configuration.runsEmbeddedControlPlane)
        #expect(configuration.dockerHost == .tcp(host: "127.0.0.1", port: 2375))
        #expect(configuration.dataDirectory == "/srv/berth")
        #expect(!configuration.checkpoint)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.reservedPorts == [22, 80])
        #expect(configuration.reservedPortsUDP == [53])
        #expect(configuration.reservedMemoryMiB == 256)
        #expect(configuration.engineAuthentication?.registries == ["127.0.0.1:51671"])
        #expect(configuration.availableLoggingDrivers == [.jsonFile, .syslog, .awslogs])
        #expect(configuration.containerStopTimeout == .seconds(10))
        #expect(configuration.containerStartTimeout == .seconds(300))
        #expect(configuration.containerCreateTimeout == .seconds(120))
        #expect(configuration.imagePullBehavior == .preferCached)
        #expect(configuration.imagePullInactivityTimeout == .seconds(120))
        #expect(configuration.taskCleanupWaitDuration == .seconds(600))
        #expect(configuration.imageCleanupDisabled)
        #expect(configuration.imageCleanupInterval == .seconds(3600))
        #expect(configuration.imageMinimumCleanupAge == .seconds(1800))
        #expect(configuration.imagesDeletedPerCycle == 9)
        #expect(configuration.instanceAttributes.map(\.description) == ["stack=prod", "team=core"])
        #expect(configuration.privilegedDisabled)
        #expect(configuration.selinuxCapable)
        #expect(configuration.apparmorCapable)
        #expect(configuration.dynamicHostPortRange.description == "40000-40100")
        #expect(configuration.apiListen.description == "0.0.0.0:9000")
        #expect(!configuration.apiListen.isLoopback)
        #expect(configuration.accountID.digits == "000011112222")
        #expect(configuration.apiCredentialsFile == "/etc/ecs/berth-api-credentials")
        #expect(configuration.introspectionListen.description == "127.0.0.1:61678")
        #expect(configuration.taskMetadataPort == 61679)
        #expect(configuration.taskMetadataRateLimit == RequestRateLimit(steady: 100, burst: 150))
        #expect(configuration.stoppedTaskRetention == .seconds(3 * 3600))
        #expect(configuration.instanceID == "host-17.rack-3")
        #expect(configuration.availabilityZone == "dc1-room2")
        #expect(configuration.instanceLostAfter == .seconds(120))
        #expect(configuration.tlsCertificateFile == "/etc/ecs/berth.crt")
        #expect(configuration.tlsKeyFile == "/etc/ecs/berth.key")
        #expect(configuration.apiScheme == "https")
        #expect(loaded.origin(of: .cluster) == .file(path: "/etc/ecs/ecs.config", line: 1))
        #expect(loaded.origin(of: .accountID) == .file(path: "/etc/ecs/ecs.config", line: 30))
        #expect(Set(loaded.origins.keys) == Set(ConfigurationKey.allCases))
    }

    @Test("TLS needs both the certificate and the key, each an absolute path")
    func tlsPairRequired() {
        let region = "AWS_DEFAULT_REGION=us-east-1\n"
        let onlyCertificate = errors(region + "BERTH_TLS_CERTIFICATE=/etc/ecs/berth.crt\n")
        #expect(
            onlyCertificate.count == 1 && onlyCertificate[0].contains("without BERTH_TLS_KEY"),
            "\(onlyCertificate)"
        )
        let onlyKey = errors(region + "BERTH_TLS_KEY=/etc/ecs/berth.key\n")
        #expect(onlyKey.count == 1 && onlyKey[0].contains("without BERTH_TLS_CERTIFICATE"), "\(onlyKey)")
        let relative = errors(region + "BERTH_TLS_CERTIFICATE=berth.crt\nBERTH_TLS_KEY=/etc/ecs/berth.key\n")
        #expect(
            relative.contains { $0.contains("BERTH_TLS_CERTIFICATE") && $0.contains("absolute path") },
            "\(relative)"
        )
        #expect(errors(region + "BERTH_TLS_CERTIFICATE=/a.crt\nBERTH_TLS_KEY=/a.key\n").isEmpty)
    }

    @Test("an instance id or availability zone that cannot be one is refused, naming the key")
    func hostIdentityRefused() {
        let longID = String(repeating: "a", count: 65)
        for (line, key) in [
            ("BERTH_INSTANCE_ID=host 17", "BERTH_INSTANCE_ID"), ("BERTH_INSTANCE_ID=\(longID)", "BERTH_INSTANCE_ID"),
            ("BERTH_INSTANCE_ID=a/b", "BERTH_INSTANCE_ID"),
            ("BERTH_AVAILABILITY_ZONE=zone;1", "BERTH_AVAILABILITY_ZONE"),
        ] {
            let refused = errors("AWS_DEFAULT_REGION=us-east-1\n\(line)\n")
            #expect(refused.count == 1 && refused[0].contains(key), "\(line): \(refused)")
        }
        #expect(errors("AWS_DEFAULT_REGION=us-east-1\nBERTH_INSTANCE_ID=0123456789abcdef0123456789abcdef\n").isEmpty)
    }

    @Test("the environment overrides the file; an empty variable does not")
    func environmentOverrides() throws {
        let loaded = try loadWithRegion(
            "ECS_CLUSTER=from-file\nECS_LOGLEVEL=warn\n",
            environment: ["ECS_CLUSTER": "from-env", "ECS_LOGLEVEL": ""]
        )
        #expect(loaded.configuration.cluster.value == "from-env")
        #expect(loaded.origin(of: .cluster) == .environment)
        #expect(loaded.configuration.logLevel == .warn)
        #expect(loaded.origin(of: .logLevel) == .file(path: "/etc/ecs/ecs.config", line: 3))
    }

    @Test("an empty value in the file means unset")
    func emptyValue() throws {
        let loaded = try loadWithRegion("ECS_CLUSTER=\nECS_RESERVED_PORTS=\n")
        #expect(loaded.configuration.cluster == .default)
        #expect(loaded.configuration.reservedPorts == [22, 2375, 2376, 51678, 51679])
        #expect(loaded.warnings.isEmpty)
    }

    @Test("a key set twice: the last wins, with a warning")
    func duplicates() throws {
        let loaded = try loadWithRegion("ECS_CLUSTER=a\nECS_CLUSTER=b\n")
        #expect(loaded.configuration.cluster.value == "b")
        #expect(
            warning(about: .cluster, in: loaded)
                == "warning: /etc/ecs/ecs.config:3: ECS_CLUSTER: also set on line 2; the last assignment wins"
        )
    }

    @Test("unknown keys are reported, with a suggestion for likely typos")
    func unknownKeys() throws {
        let loaded = try loadWithRegion(
            "ECS_CLUSTR=prod\nECS_ENABLE_TASK_IAM_ROLE=true\nMY_OWN_THING=1\n",
            environment: ["ECS_LOGLEVL": "debug", "PATH": "/usr/bin", "LANG": "C"]
        )
        #expect(
            loaded.warnings.map(\.description) == [
                "warning: /etc/ecs/ecs.config:2: ECS_CLUSTR: unknown key; ignored (did you mean ECS_CLUSTER?)",
                "warning: /etc/ecs/ecs.config:3: ECS_ENABLE_TASK_IAM_ROLE: an Amazon ECS agent setting that Berth does not implement; ignored",
                "warning: /etc/ecs/ecs.config:4: MY_OWN_THING: unknown key; ignored",
                "warning: environment: ECS_LOGLEVL: unknown key; ignored (did you mean ECS_LOGLEVEL?)",
            ]
        )
    }

    @Test("malformed lines are warnings, not failures")
    func malformedLines() throws {
        let loaded = try loadWithRegion("just some words\n")
        #expect(
            loaded.warnings.map(\.description) == [
                "warning: /etc/ecs/ecs.config:2: not a KEY=VALUE line (no '='); ignored"
            ]
        )
    }

    // Where the ECS agent warns and falls back (or clamps), Berth does the same and says so.
    @Test(
        "bad values fall back with a warning naming key, value and line",
        arguments: [
            (
                "ECS_CHECKPOINT=yes", ConfigurationKey.checkpoint,
                #"ECS_CHECKPOINT="yes": not a boolean (true or false); using the default true"#
            ),
            (
                "ECS_LOGLEVEL=verbose", .logLevel,
                #"ECS_LOGLEVEL="verbose": not a level (debug, info, warn, error, crit); using the default info"#
            ),
            (
                "ECS_RESERVED_PORTS=22,80", .reservedPorts,
                #"ECS_RESERVED_PORTS="22,80": not a JSON array of port numbers such as [22, 2375]; using the default [22,2375,2376,51678,51679]"#
            ),
            (
                "ECS_RESERVED_PORTS_UDP=[0]", .reservedPortsUDP,
                #"ECS_RESERVED_PORTS_UDP="[0]": 0 is not a port from 1 to 65535; using the default []"#
            ),
            (
                "ECS_RESERVED_MEMORY=-5", .reservedMemory,
                #"ECS_RESERVED_MEMORY="-5": not a whole number of MiB from 0 to 65535; using the default 0"#
            ),
            (
                "ECS_AVAILABLE_LOGGING_DRIVERS=json-file", .availableLoggingDrivers,
                #"ECS_AVAILABLE_LOGGING_DRIVERS="json-file": not a JSON array of driver names such as ["json-file","syslog"]; using the default ["json-file","none"]"#
            ),
            (
                "ECS_CONTAINER_STOP_TIMEOUT=30", .containerStopTimeout,
                #"ECS_CONTAINER_STOP_TIMEOUT="30": not a duration (write it with a unit, such as 30s); using the default 30s"#
            ),
            (
                "ECS_CONTAINER_STOP_TIMEOUT=500ms", .containerStopTimeout,
                #"ECS_CONTAINER_STOP_TIMEOUT="500ms": below the minimum 1s; using 1s"#
            ),
            (
                "ECS_CONTAINER_START_TIMEOUT=10s", .containerStartTimeout,
                #"ECS_CONTAINER_START_TIMEOUT="10s": below the minimum 45s; using 45s"#
            ),
            (
                "ECS_CONTAINER_CREATE_TIMEOUT=30s", .containerCreateTimeout,
                #"ECS_CONTAINER_CREATE_TIMEOUT="30s": below the minimum 1m; using 1m"#
            ),
            (
                "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT=5s", .imagePullInactivityTimeout,
                #"ECS_IMAGE_PULL_INACTIVITY_TIMEOUT="5s": below the minimum 1m; using 1m"#
            ),
            (
                "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1ms", .taskCleanupWaitDuration,
                #"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION="1ms": below the minimum 1s; using the default 3h"#
            ),
            (
                "ECS_IMAGE_CLEANUP_INTERVAL=5m", .imageCleanupInterval,
                #"ECS_IMAGE_CLEANUP_INTERVAL="5m": below the minimum 10m; using the default 30m"#
            ),
            (
                "ECS_IMAGE_MINIMUM_CLEANUP_AGE=0", .imageMinimumCleanupAge,
                #"ECS_IMAGE_MINIMUM_CLEANUP_AGE="0": zero means the default; using the default 1h"#
            ),
            (
                "ECS_IMAGE_MINIMUM_CLEANUP_AGE=-1h", .imageMinimumCleanupAge,
                #"ECS_IMAGE_MINIMUM_CLEANUP_AGE="-1h": a negative duration; using the default 1h"#
            ),
            (
                "ECS_NUM_IMAGES_DELETE_PER_CYCLE=0", .imagesDeletedPerCycle,
                #"ECS_NUM_IMAGES_DELETE_PER_CYCLE="0": must be at least 1; using the default 5"#
            ),
            (
                "ECS_IMAGE_PULL_BEHAVIOR=sometimes", .imagePullBehavior,
                #"ECS_IMAGE_PULL_BEHAVIOR="sometimes": not a pull behavior (default, always, once, prefer-cached); using the default default"#
            ),
            (
                "ECS_DYNAMIC_HOST_PORT_RANGE=60000-50000", .dynamicHostPortRange,
                #"ECS_DYNAMIC_HOST_PORT_RANGE="60000-50000": the range starts at 60000, after its end 50000; using the default 32768-60999"#
            ),
            (
                "ECS_TASK_METADATA_RPS_LIMIT=40", .taskMetadataRateLimit,
                #"ECS_TASK_METADATA_RPS_LIMIT="40": expected STEADY,BURST requests per second, such as 40,60; using the default 40,60"#
            ),
            (
                "ECS_TASK_METADATA_RPS_LIMIT=0,60", .taskMetadataRateLimit,
                #"ECS_TASK_METADATA_RPS_LIMIT="0,60": the steady rate and the burst must both be at least 1; using the default 40,60"#
            ),
            (
                "ECS_ENGINE_AUTH_TYPE=docker", .engineAuthType,
                #"ECS_ENGINE_AUTH_TYPE="docker": set without ECS_ENGINE_AUTH_DATA; no registry credentials"#
            ),
        ]
    )
    func fallbacks(line: String, key: ConfigurationKey, message: String) throws {
        let loaded = try loadWithRegion(line)
        #expect(warning(about: key, in: loaded) == "warning: /etc/ecs/ecs.config:2: \(message)")
        #expect(loaded.warnings.count == 1)
    }

    // Where the ECS agent refuses to start (or would only fail later), Berth refuses at once.
    @Test(
        "bad values that Berth will not guess around are errors",
        arguments: [
            (
                "ECS_CLUSTER=my cluster",
                #"ECS_CLUSTER="my cluster": cluster name 'my cluster' contains ' '; names use letters, digits, hyphens and underscores"#
            ),
            (
                "ECS_CLUSTER=arn:aws:ecs:us-east-1:123456789012:service/x",
                #"ECS_CLUSTER="arn:aws:ecs:us-east-1:123456789012:service/x": 'arn:aws:ecs:us-east-1:123456789012:service/x' is not a cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)"#
            ),
            (
                "ECS_BACKEND_HOST=ftp://x",
                #"ECS_BACKEND_HOST="ftp://x": not an endpoint URL such as https://ecs.example.com or http://10.0.0.5:51680"#
            ),
            (
                "DOCKER_HOST=/var/run/docker.sock",
                #"DOCKER_HOST="/var/run/docker.sock": expected unix:///PATH or tcp://HOST:PORT (TLS addresses are not supported)"#
            ),
            (
                "DOCKER_HOST=tcp://dockerd",
                #"DOCKER_HOST="tcp://dockerd": a tcp address needs a host and a port: tcp://HOST:PORT"#
            ),
            ("ECS_DATADIR=data", #"ECS_DATADIR="data": must be an absolute path"#),
            (
                "ECS_AVAILABLE_LOGGING_DRIVERS=[\"json-file\",\"jsonfile\"]",
                #"ECS_AVAILABLE_LOGGING_DRIVERS="["json-file","jsonfile"]": unknown logging driver jsonfile; known drivers: json-file, syslog, journald, gelf, fluentd, awslogs, splunk, awsfirelens, logentries, sumologic, none"#
            ),
            (
                "ECS_INSTANCE_ATTRIBUTES={\"stack\":1}",
                #"ECS_INSTANCE_ATTRIBUTES="{"stack":1}": not a JSON object of string values such as {"stack":"prod"}"#
            ),
            (
                "ECS_INSTANCE_ATTRIBUTES={\"st ack\":\"x\"}",
                #"ECS_INSTANCE_ATTRIBUTES="{"st ack":"x"}": attribute name 'st ack' contains ' '; names use letters, digits, - _ / \ and ."#
            ),
            (
                "ECS_INSTANCE_ATTRIBUTES={\"a\":\" x\"}",
                #"ECS_INSTANCE_ATTRIBUTES="{"a":" x"}": value of attribute 'a' may not start or end with a space"#
            ),
            (
                "ECS_ENGINE_AUTH_TYPE=basic\nECS_ENGINE_AUTH_DATA={}",
                #"ECS_ENGINE_AUTH_TYPE="basic": not an authentication type; expected docker or dockercfg"#
            ),
            ("BERTH_API_LISTEN=51680", #"BERTH_API_LISTEN="51680": expected HOST:PORT, such as 127.0.0.1:51680"#),
            (
                "BERTH_API_LISTEN=127.0.0.1:99999",
                #"BERTH_API_LISTEN="127.0.0.1:99999": the port must be a number from 1 to 65535"#
            ),
            (
                "BERTH_ACCOUNT_ID=12345",
                #"BERTH_ACCOUNT_ID="12345": '12345' is not an account id: expected exactly 12 digits"#
            ),
        ]
    )
    func refusals(line: String, message: String) {
        #expect(errors("AWS_DEFAULT_REGION=us-east-1\n" + line) == ["error: /etc/ecs/ecs.config:2: \(message)"])
    }

    @Test(
        "a remote control plane needs the agent's key; plain http is only quiet on loopback; the secret is never shown"
    )
    func remoteControlPlane() throws {
        #expect(
            errors("AWS_DEFAULT_REGION=us-east-1\nECS_BACKEND_HOST=https://cp.example:51680") == [
                #"error: /etc/ecs/ecs.config:2: ECS_BACKEND_HOST="https://cp.example:51680": a remote control plane needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to sign the agent's calls"#
            ]
        )
        let keys = ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLEAGENT01", "AWS_SECRET_ACCESS_KEY": "secret-of-the-agent-01"]
        #expect(
            errors("AWS_DEFAULT_REGION=us-east-1\nECS_BACKEND_HOST=http://127.0.0.1:51680", environment: keys).isEmpty
        )
        let plain = try loadWithRegion("ECS_BACKEND_HOST=http://10.0.0.5:51680", environment: keys)
        #expect(warning(about: .backendHost, in: plain)?.contains("unencrypted") == true)
        let short = errors(
            "AWS_DEFAULT_REGION=us-east-1\nECS_BACKEND_HOST=https://cp.example\nAWS_SECRET_ACCESS_KEY=short secret",
            environment: ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLEAGENT01"]
        )
        #expect(short.count == 1)
        #expect(short.first?.contains("AWS_SECRET_ACCESS_KEY") == true)
        #expect(short.first?.contains("short secret") == false, "\(short)")
        let loaded = try loadWithRegion("ECS_BACKEND_HOST=https://cp.example", environment: keys)
        #expect(!ConfigurationReport.render(loaded).contains("secret-of-the-agent-01"))
    }

    @Test("BERTH_DATABASE_URL: what is wrong is named, and neither the error nor check-config shows the password")
    func databaseURL() throws {
        let wrong = errors(
            "AWS_DEFAULT_REGION=us-east-1\nBERTH_DATABASE_URL=postgres://berth:hunter2-pw@db/berth?sslmode=on"
        )
        #expect(wrong.count == 1)
        #expect(wrong.first?.contains("BERTH_DATABASE_URL") == true)
        #expect(wrong.first?.contains("sslmode=on is not one of") == true, "\(wrong)")
        #expect(wrong.first?.contains("hunter2") == false, "\(wrong)")
        let loaded = try loadWithRegion("BERTH_DATABASE_URL=postgres://berth:hunter2-pw@db.example/berth")
        let report = ConfigurationReport.render(loaded)
        #expect(!report.contains("hunter2"))
        #expect(report.contains("postgres://berth:<redacted>@db.example:5432/berth?sslmode=prefer"), "\(report)")
    }

    @Test(
        "BERTH_ADVERTISE_URL: a URL agents can reach, or an error naming the key; without BERTH_DATABASE_URL, a warning"
    )
    func advertiseURL() throws {
        for wrong in ["cp-2.example:51680", "ftp://cp-2.example", "http://0.0.0.0:51680", "https://"] {
            let refused = errors("AWS_DEFAULT_REGION=us-east-1\nBERTH_ADVERTISE_URL=\(wrong)")
            #expect(refused.count == 1, "\(wrong): \(refused)")
            #expect(refused.first?.contains("BERTH_ADVERTISE_URL") == true, "\(refused)")
        }
        let replica = try loadWithRegion(
            "BERTH_DATABASE_URL=postgres://berth@db.example/berth\nBERTH_ADVERTISE_URL=https://cp-2.example:51680"
        )
        #expect(replica.configuration.advertiseURL == "https://cp-2.example:51680")
        #expect(replica.warnings.isEmpty)
        #expect(ConfigurationReport.render(replica).contains("https://cp-2.example:51680"))
        let alone = try loadWithRegion("BERTH_ADVERTISE_URL=https://cp-2.example:51680")
        #expect(warning(about: .advertiseURL, in: alone)?.contains("BERTH_DATABASE_URL") == true)
    }

    @Test("more than ten custom attributes are refused, as ECS would at registration")
    func tooManyAttributes() {
        let attributes = (1...11).map { #""a\#($0)":"v""# }.joined(separator: ",")
        #expect(
            errors("AWS_DEFAULT_REGION=us-east-1\nECS_INSTANCE_ATTRIBUTES={\(attributes)}").first?.hasSuffix(
                "11 attributes; ECS allows at most 10 custom attributes per instance"
            ) == true
        )
    }

    @Test("the region is required and must look like one")
    func region() {
        #expect(
            errors(nil) == [
                "error: AWS_DEFAULT_REGION: not set; Berth has no instance metadata service to learn the region from, so set it (such as us-east-1)"
            ]
        )
        #expect(
            errors("AWS_DEFAULT_REGION=US-EAST-1") == [
                #"error: /etc/ecs/ecs.config:1: AWS_DEFAULT_REGION="US-EAST-1": 'US-EAST-1' is not a region name such as us-east-1"#
            ]
        )
        #expect(errors(nil, environment: ["AWS_DEFAULT_REGION": "us-gov-west-1"]).isEmpty)
    }

    @Test("every error is reported at once, warnings beside them, in file order")
    func allErrorsTogether() {
        do {
            _ = try load("ECS_LOGLEVEL=loud\nECS_DATADIR=rel\nDOCKER_HOST=x\n")
            Issue.record("expected the configuration to be refused")
        } catch {
            #expect(error.code == .invalidValue)
            #expect(error.message == "the configuration has 3 errors; Berth will not start with it")
            #expect(error.diagnostics.map(\.severity) == [.warning, .error, .error, .error])
            #expect(
                error.diagnostics.map(\.key) == ["ECS_LOGLEVEL", "ECS_DATADIR", "DOCKER_HOST", "AWS_DEFAULT_REGION"]
            )
        }
    }
}
