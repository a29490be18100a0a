import GPollCore
import GPollWire

/// What a server shows of itself before the cases run: the settings its handshake
/// object advertises (Spec section 17) and whether its 404s carry `GPoll-Reason`.
public struct ProbedServer: Sendable, Hashable {
    /// Empty when the handshake advertised nothing (a gpoll/1 server) or could not be read.
    public var advertised: AdvertisedSettings
    /// Whether a 404 carried `GPoll-Reason` (NF-9).
    public var sendsReasons: Bool

    public init(advertised: AdvertisedSettings = AdvertisedSettings(), sendsReasons: Bool = false) {
        self.advertised = advertised
        self.sendsReasons = sendsReasons
    }
}

/// One handshake and one poll of an id no server issued, before the cases run, so
/// that cases which depend on what the server offers (`ack`, advertised settings,
/// reasons) are planned, or skipped with the reason, accordingly.
enum ServerProbe {
    /// `settings` with ``Settings/probed`` and ``Settings/serverOffersAck`` filled in.
    /// A server that does not answer leaves them "nothing offered": the cases
    /// themselves then report what is wrong.
    static func learn(_ settings: Settings, client: WireClient) async -> Settings {
        var learnt = settings
        var probed = ProbedServer()
        let transcript = Transcript()
        if let connection = try? await client.connect(to: settings.pollURL, transcript: transcript) {
            let handshake = try? await connection.exchange(
                WireRequest(target: settings.pollURL.target(clientID: Array("0".utf8))), within: .seconds(5))
            if let response = handshake?.response, response.status == 200 {
                probed.advertised = AdvertisedSettings.decode(response.body).settings
            }
            // A well-formed id that no server issued: the answer is 404, with or without a reason.
            let stranger = "0$" + UUIDv4(randomHigh: .random(in: 0...UInt64.max), randomLow: .random(in: 0...UInt64.max)).description
            if await !connection.isClosed,
               let notFound = try? await connection.exchange(
                   WireRequest(target: settings.pollURL.target(clientID: Array(stranger.utf8))), within: .seconds(5)),
               let response = notFound.response, response.status == 404 {
                probed.sendsReasons = response.value(GPollHeaderName.reason) != nil
            }
            await connection.close()
        }
        learnt.probed = probed
        learnt.serverOffersAck = probed.advertised.offersAck
        return learnt
    }
}
