import Foundation
@testable import GPollConformance
import GPollCore
import GPollWire
import Testing

/// The probe before the cases: what it learns, and what it makes the runner skip.
@Suite struct ServerProbeTests {
    @Test func learnsAdvertisedSettingsAndReasons() async throws {
        let server = FakeGPollServer(FakeGPollServer.Config(clientBuffer: 3))
        try await server.start()
        let client = try WireClient()
        let learnt = await ServerProbe.learn(try Harness.settings(for: server), client: client)
        await client.shutdown()
        await server.stop()
        let probed = try #require(learnt.probed)
        #expect(probed.advertised == AdvertisedSettings(version: "1.1", pollTimeoutSeconds: 1.5, clientBuffer: 3,
                                                        idleExpirySeconds: 1.5, extensions: ["ack"]))
        #expect(probed.sendsReasons)
        #expect(learnt.serverOffersAck)
    }

    @Test func aServerThatAdvertisesNothingSkipsTheGPoll11Cases() async throws {
        // prettyHandshake: a JSON object with client-id and an unknown member, nothing advertised.
        let server = FakeGPollServer(defects: [.prettyHandshake])
        try await server.start()
        let results = try await Harness.run(["advertise/*", "ack/*"], against: server)
        await server.stop()
        #expect(results.count == 8)
        for result in results {
            #expect(result.outcome == .skip, "\(Harness.describe(result))")
        }
        #expect(results.first { $0.id == "ack/001" }?.reason?.contains("ack") == true)
    }

    @Test func anUnreachableServerLeavesNothingOffered() async throws {
        let client = try WireClient()
        let settings = try RunOptions(pollURL: "http://127.0.0.1:1/poll").settings()
        let learnt = await ServerProbe.learn(settings, client: client)
        await client.shutdown()
        #expect(learnt.probed == ProbedServer())
        #expect(!learnt.serverOffersAck)
    }
}
