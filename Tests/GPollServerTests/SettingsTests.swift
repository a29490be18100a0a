import Configuration
import Foundation
import GPollCore
import GPollServer
import GPollTestSupport
import Testing

@Suite("settings: flags, environment and file")
struct SettingsTests {
    typealias Settings = GPollServerSettings

    /// A settings file with this JSON text, removed when the test ends.
    final class SettingsFile {
        let path: String
        init(_ json: String) throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("gpoll-settings-\(UUID().uuidString).json").path
            try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static func read(
        flags: [Settings.Setting: ConfigValue] = [:],
        environment: [String: String] = [:],
        fileDescriptorLimit: UInt64? = nil
    ) async throws -> GPollServerSettings {
        let (reader, file) = try await Settings.reader(flags: flags, environment: environment)
        return try await Settings.read(reader, file: file, fileDescriptorLimit: fileDescriptorLimit, metrics: .disabled)
    }

    /// The problems a read reports; fails the test if it succeeds.
    static func problems(
        flags: [Settings.Setting: ConfigValue] = [:],
        environment: [String: String] = [:]
    ) async -> String {
        do {
            _ = try await read(flags: flags, environment: environment)
            Issue.record("expected the settings to be refused: flags \(flags), environment \(environment)")
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test("names: --poll-timeout, GPOLL_POLL_TIMEOUT and \"poll-timeout\" for every setting")
    func names() {
        #expect(Settings.pollTimeout.flag == "--poll-timeout")
        #expect(Settings.pollTimeout.environmentVariable == "GPOLL_POLL_TIMEOUT")
        #expect(Settings.adminToken.environmentVariable == "GPOLL_ADMIN_TOKEN")
        #expect(Set(Settings.all.map(\.name)).count == Settings.all.count)
        for setting in Settings.all {
            #expect(setting.names.contains(setting.flag) && setting.names.contains(setting.environmentVariable) && setting.names.contains("\"\(setting.name)\""))
        }
    }

    @Test("precedence: a flag beats the environment, which beats the file, which beats the default")
    func precedence() async throws {
        let file = try SettingsFile("""
            {"poll-timeout": 10, "client-buffer": 5, "host": "127.0.0.2", "endpoint": ["/f1", "/f2"], "no-ack": true, "idle-expiry": 4.5}
            """)
        let environment = ["GPOLL_CONFIG": file.path, "GPOLL_POLL_TIMEOUT": "20", "GPOLL_CLIENT_BUFFER": "7"]
        let all = try await Self.read(flags: [Settings.pollTimeout: .init(.double(30), isSecret: false)], environment: environment)
        #expect(all.broadcaster.pollTimeout == .seconds(30), "flag")
        #expect(all.broadcaster.clientBufferCapacity == 7, "environment over file")
        #expect(all.server.host == "127.0.0.2", "file")
        #expect(all.endpointPaths == ["/f1", "/f2"], "file")
        #expect(!all.broadcaster.offersAcknowledgedDelivery, "file")
        #expect(all.broadcaster.idleExpiry == .milliseconds(4500), "file, fractional")
        #expect(all.file == file.path)

        let noFlag = try await Self.read(environment: environment)
        #expect(noFlag.broadcaster.pollTimeout == .seconds(20), "environment over file")

        let fileOnly = try await Self.read(flags: [Settings.config: .init(.string(file.path), isSecret: false)])
        #expect(fileOnly.broadcaster.pollTimeout == .seconds(10) && fileOnly.broadcaster.clientBufferCapacity == 5)

        let defaults = try await Self.read()
        #expect(defaults.broadcaster.pollTimeout == .seconds(30) && defaults.broadcaster.clientBufferCapacity == 100)
        #expect(defaults.server.host == "127.0.0.1" && defaults.server.port == 8080)
        #expect(defaults.server.admin?.host == "127.0.0.1" && defaults.server.admin?.port == 8081)
        #expect(defaults.endpointPaths == ["/poll"] && defaults.broadcaster.offersAcknowledgedDelivery)
        #expect(defaults.file == nil)

        // The environment's list is comma-separated; a flag's is the repeated option.
        let listed = try await Self.read(environment: ["GPOLL_ENDPOINT": "/x,/y"])
        #expect(listed.endpointPaths == ["/x", "/y"])
        let flagged = try await Self.read(flags: [Settings.endpoint: .init(.stringArray(["/z"]), isSecret: false)], environment: ["GPOLL_ENDPOINT": "/x,/y"])
        #expect(flagged.endpointPaths == ["/z"])
        let booleans = try await Self.read(environment: ["GPOLL_NO_ADVERTISE": "true", "GPOLL_NO_ADMIN": "1"])
        #expect(!booleans.broadcaster.advertisesSettings && booleans.server.admin == nil)
    }

    @Test("safe defaults: E = 2T + 10 s, a client limit from the open-file limit, 0 turns either off")
    func defaults() async throws {
        let standard = try await Self.read(fileDescriptorLimit: 1064)
        #expect(standard.broadcaster.idleExpiry == .seconds(70) && standard.idleExpiryIsDefault)
        #expect(standard.broadcaster.maxClients == 1000 && standard.clientLimitIsDefault)
        let twoEndpoints = try await Self.read(environment: ["GPOLL_ENDPOINT": "/a,/b", "GPOLL_POLL_TIMEOUT": "0"], fileDescriptorLimit: 1064)
        #expect(twoEndpoints.broadcaster.maxClients == 500, "the limit is shared among the endpoints")
        #expect(twoEndpoints.broadcaster.pollTimeout == nil && twoEndpoints.broadcaster.idleExpiry == .seconds(10), "T = 0: E = 10 s")
        let off = try await Self.read(environment: ["GPOLL_IDLE_EXPIRY": "0", "GPOLL_MAX_CLIENTS": "0"], fileDescriptorLimit: 1064)
        #expect(off.broadcaster.idleExpiry == nil && off.broadcaster.maxClients == nil)
        #expect(!off.idleExpiryIsDefault && !off.clientLimitIsDefault)
        let unknownLimit = try await Self.read(fileDescriptorLimit: nil)
        #expect(unknownLimit.broadcaster.maxClients == nil)
        // The handshake advertises the default E (AD-2: the value in force).
        #expect(standard.broadcaster.advertisement?.idleExpirySeconds == 70)
        #expect(standard.summary["gpoll.idle_expiry"]?.description.contains("70") == true)
        #expect(standard.summary["gpoll.admin_token"] == "none")
    }

    /// A bad value for each setting, as the environment and the file carry it.
    static let badValues: [(setting: Settings.Setting, environment: String, json: String)] = [
        (Settings.host, "", "5"),
        (Settings.port, "x", "70000"),
        (Settings.endpoint, "poll", #"["/a", "/a"]"#),
        (Settings.clientBuffer, "0", "1.5"),
        (Settings.routineMaxClients, "0", #""many""#),
        (Settings.pollTimeout, "-1", #""soon""#),
        (Settings.idleExpiry, "never", "-2"),
        (Settings.maxClients, "-1", #""lots""#),
        (Settings.tlsCert, "/some/cert.pem", #""/some/cert.pem""#),
        (Settings.tlsKey, "/some/key.pem", "7"),
        (Settings.adminHost, "", "[]"),
        (Settings.adminPort, "65536", "-1"),
        (Settings.adminToken, "", #""""#),
        (Settings.noAdmin, "maybe", #""yes""#),
        (Settings.maxMessageBytes, "-1", "-5"),
        (Settings.noAck, "maybe", #""no""#),
        (Settings.noAdvertise, "perhaps", #""true""#),
        (Settings.clusterQueryTimeout, "0", "-1"),
        (Settings.shutdownGrace, "-1", #""later""#),
        (Settings.logLevel, "loud", #""loud""#),
        (Settings.logFormat, "xml", #""xml""#),
    ]

    @Test("every bad value, from the environment and from the file, is refused with its setting's names",
          arguments: badValues.map(\.setting.name))
    func badValue(name: String) async throws {
        let bad = try #require(Self.badValues.first { $0.setting.name == name })
        let fromEnvironment = await Self.problems(environment: [bad.setting.environmentVariable: bad.environment])
        #expect(fromEnvironment.contains(bad.setting.flag) && fromEnvironment.contains(bad.setting.environmentVariable), "\(fromEnvironment)")
        let file = try SettingsFile(#"{"\#(bad.setting.name)": \#(bad.json)}"#)
        let fromFile = await Self.problems(flags: [Settings.config: .init(.string(file.path), isSecret: false)])
        #expect(fromFile.contains(bad.setting.flag) && fromFile.contains("\"\(bad.setting.name)\""), "\(fromFile)")
    }

    @Test("bad flags (the types ArgumentParser already checked) are refused by range")
    func badFlags() async {
        let cases: [(Settings.Setting, ConfigContent)] = [
            (Settings.port, .int(-1)), (Settings.clientBuffer, .int(0)), (Settings.pollTimeout, .double(-0.5)),
            (Settings.idleExpiry, .double(-1)), (Settings.maxClients, .int(-3)), (Settings.shutdownGrace, .double(-1)),
            (Settings.logLevel, .string("loud")), (Settings.endpoint, .stringArray(["nope"])),
        ]
        for (setting, content) in cases {
            let problems = await Self.problems(flags: [setting: .init(content, isSecret: false)])
            #expect(problems.contains(setting.flag), "\(setting.name): \(problems)")
        }
    }

    @Test("cluster-query-timeout: 5 s by default, from every source, in the start line; 0 or less refused")
    func clusterQueryTimeout() async throws {
        let cluster = ["GPOLL_CLUSTER": "postgres://u@db/gpoll", "GPOLL_NODE_NAME": "a"]
        let standard = try await Self.read(environment: cluster)
        #expect(standard.cluster?.queryTimeout == .seconds(5))
        let set = try await Self.read(environment: cluster.merging(["GPOLL_CLUSTER_QUERY_TIMEOUT": "2.5"]) { $1 })
        #expect(set.cluster?.queryTimeout == .milliseconds(2500))
        #expect(set.summary["gpoll.cluster"]?.description.contains("query timeout 2.5") == true, "\(set.summary)")
        let file = try SettingsFile(#"{"cluster-query-timeout": 1}"#)
        let fromFile = try await Self.read(environment: cluster.merging(["GPOLL_CONFIG": file.path]) { $1 })
        #expect(fromFile.cluster?.queryTimeout == .seconds(1))
        for bad in ["0", "-3", "soon"] {
            let problems = await Self.problems(environment: cluster.merging(["GPOLL_CLUSTER_QUERY_TIMEOUT": bad]) { $1 })
            #expect(problems.contains("cluster-query-timeout must be") && problems.contains("GPOLL_CLUSTER_QUERY_TIMEOUT"), "\(bad): \(problems)")
        }
    }

    @Test("a public admin listener needs a token; misspelt settings and a missing file are refused")
    func refusals() async throws {
        let open = await Self.problems(environment: ["GPOLL_ADMIN_HOST": "0.0.0.0"])
        #expect(open.contains("--admin-token") && open.contains("0.0.0.0"), "\(open)")
        let withToken = try await Self.read(environment: ["GPOLL_ADMIN_HOST": "0.0.0.0", "GPOLL_ADMIN_TOKEN": "t0ken"])
        #expect(withToken.server.admin?.token == "t0ken" && withToken.summary["gpoll.admin_token"] == "set")
        #expect(!"\(withToken.summary)".contains("t0ken"), "the start log never shows the token")
        let noAdmin = try await Self.read(environment: ["GPOLL_ADMIN_HOST": "0.0.0.0", "GPOLL_NO_ADMIN": "true"])
        #expect(noAdmin.server.admin == nil, "no admin listener, nothing to protect")

        let misspelt = await Self.problems(environment: ["GPOLL_POLL_TIMOUT": "5"])
        #expect(misspelt.contains("GPOLL_POLL_TIMOUT"), "\(misspelt)")
        let file = try SettingsFile(#"{"poll-timout": 5}"#)
        let misspeltInFile = await Self.problems(environment: ["GPOLL_CONFIG": file.path])
        #expect(misspeltInFile.contains("poll-timout"), "\(misspeltInFile)")
        let missing = await Self.problems(environment: ["GPOLL_CONFIG": "/nonexistent/gpoll.json"])
        #expect(missing.contains("--config") && missing.contains("/nonexistent/gpoll.json"), "\(missing)")
        let notJSON = try SettingsFile("poll-timeout = 5")
        let unreadable = await Self.problems(environment: ["GPOLL_CONFIG": notJSON.path])
        #expect(unreadable.contains("--config"), "\(unreadable)")
        // Several problems are reported together.
        let several = await Self.problems(environment: ["GPOLL_PORT": "x", "GPOLL_LOG_LEVEL": "loud"])
        #expect(several.contains("--port") && several.contains("--log-level"), "\(several)")
    }
}
