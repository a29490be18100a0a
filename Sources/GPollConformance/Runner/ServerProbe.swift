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
        var roundTrip = Duration.zero
        if let connection = try? await client.connect(to: settings.pollURL, transcript: transcript) {
            var sent = ContinuousClock.now
            let handshake = try? await connection.exchange(
                WireRequest(target: settings.pollURL.target(clientID: Array("0".utf8))), within: .seconds(5))
            roundTrip = max(roundTrip, ContinuousClock.now - sent)
            if let response = handshake?.response, response.status == 200 {
                probed.advertised = AdvertisedSettings.decode(response.body).settings
            }
            // A well-formed id that no server issued: the answer is 404, with or without a reason.
            let stranger = "0$" + UUIDv4(randomHigh: .random(in: 0...UInt64.max), randomLow: .random(in: 0...UInt64.max)).description
            sent = .now
            if await !connection.isClosed,
               let notFound = try? await connection.exchange(
                   WireRequest(target: settings.pollURL.target(clientID: Array(stranger.utf8))), within: .seconds(5)),
               let response = notFound.response, response.status == 404 {
                probed.sendsReasons = response.value(GPollHeaderName.reason) != nil
                roundTrip = max(roundTrip, ContinuousClock.now - sent)
            }
            await connection.close()
        }
        learnt.roundTrip = roundTrip
        learnt.probed = probed
        learnt.serverOffersAck = probed.advertised.offersAck
        learnt.adopt(probed.advertised)
        return learnt
    }
}

extension Settings {
    /// Takes what the command line left unknown from the advertised settings, as a
    /// client uses them (CL requirements): B, T and E. A T or E the tester cannot
    /// judge (below one second, Spec §16.2) stays unknown. Given values are kept:
    /// advertise/001 compares them with the advertisement.
    mutating func adopt(_ advertised: AdvertisedSettings) {
        if !clientBufferGiven, let b = advertised.clientBuffer, b >= 1 {
            clientBuffer = b
            learnt.append("client-buffer \(b)")
        }
        func timer(_ seconds: Double?) -> Duration? {
            guard let seconds, seconds.isFinite, seconds == 0 || (1...86_400).contains(seconds) else { return nil }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        if pollTimeout == nil, let t = timer(advertised.pollTimeoutSeconds) {
            pollTimeout = t
            learnt.append("poll-timeout \(advertised.pollTimeoutSeconds!)")
        }
        if idleExpiry == nil, let e = timer(advertised.idleExpirySeconds) {
            idleExpiry = e
            learnt.append("idle-expiry \(advertised.idleExpirySeconds!)")
        }
    }
}
