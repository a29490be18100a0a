import GPollCore
import GPollWire

/// Spec section 17: advertised settings. Skipped against a server whose handshake
/// advertises nothing (a gpoll/1 server), which is allowed (AD-1 is a MAY).
enum AdvertiseCases {
    static func nothingAdvertised(_ settings: Settings) -> String? {
        guard let probed = settings.probed, !probed.advertised.isEmpty else {
            return "the server's handshake advertises no settings (AD-1 is optional)"
        }
        return nil
    }

    /// Seconds as a Duration, for comparing advertised numbers with settings.
    static func duration(_ seconds: Double) -> Duration { .nanoseconds(Int64((seconds * 1e9).rounded())) }

    static let all: [ConformanceCase] = [
        ConformanceCase("advertise/001", skipReason: nothingAdvertised) { ctx in
            let event = try await ctx.get(clientID: "0", on: try await ctx.connect())
            try ctx.expectHandshakeAnswer(event, "HS-1", what: "a handshake")
            let body = event.response!.body
            let (advertised, problems) = AdvertisedSettings.decode(body)
            try ctx.check(problems.isEmpty, "AD-3", expected: "advertised members of the Spec's JSON types",
                          actual: problems.joined(separator: "; ") + " in " + Transcript.escape(body, limit: 200))
            // Each advertised setting must be the one in force, as far as the tester was told it.
            if let b = advertised.clientBuffer {
                try ctx.check(b == ctx.clientBuffer, "AD-2", expected: "client-buffer \(ctx.clientBuffer) (--client-buffer)",
                              actual: "client-buffer \(b)")
            }
            for (name, value, known) in [("poll-timeout", advertised.pollTimeoutSeconds, ctx.settings.pollTimeout),
                                         ("idle-expiry", advertised.idleExpirySeconds, ctx.settings.idleExpiry)] {
                guard let value, let known else { continue }
                let difference = duration(value) - known
                try ctx.check(difference < .milliseconds(1) && difference > .milliseconds(-1), "AD-2",
                              expected: "\(name) \(known) (as the tester was given it)", actual: "\(name) \(value)")
            }
        },
        ConformanceCase("advertise/002", scheduling: .serial,
                        estimate: { settings in settings.probed?.advertised.pollTimeoutSeconds.map(duration) ?? .zero },
                        skipReason: { settings in
                            guard let seconds = settings.probed?.advertised.pollTimeoutSeconds, seconds > 0 else {
                                return "the server's handshake advertises no poll-timeout, or 0 (polls never time out)"
                            }
                            // The wait must fit the case's time limit (--timeout).
                            if duration(seconds) + .seconds(2) > settings.caseTimeout {
                                return "the advertised poll-timeout (\(seconds) s) + 2 s exceeds --timeout \(settings.caseTimeout)"
                            }
                            return nil
                        }) { ctx in
            let c = try await ctx.connect()
            let started = ContinuousClock.now
            let event = try await ctx.get(clientID: "0", on: c)
            let roundTrip = ContinuousClock.now - started
            let text = try ctx.expectHandshakeAnswer(event, "HS-1", what: "a handshake")
            guard let seconds = AdvertisedSettings.decode(event.response!.body).settings.pollTimeoutSeconds, seconds > 0 else {
                throw ctx.fail("AD-2", expected: "the poll-timeout this server advertised before", actual: "none in \(text)'s handshake")
            }
            guard case .success(let id) = ClientID.parse(text) else {
                throw ctx.fail("ID-1", expected: "a canonical client id", actual: text)
            }
            let t = duration(seconds)
            let deadline = ContinuousClock.now + t + .seconds(3)
            // Scheduled alone on its lane, but a stray broadcast may still arrive: then wait again.
            while true {
                let polled = ContinuousClock.now
                let answer = try await ctx.poll(id, on: c, within: t + .seconds(1) + roundTrip + .milliseconds(500))
                let waited = ContinuousClock.now - polled
                if answer.response?.status == 200, ContinuousClock.now + t < deadline { continue }
                try ctx.expectStatus(answer, 204, requirement: "AD-2", what: "a poll idle for the advertised poll-timeout \(seconds) s")
                try ctx.check(waited >= t - .milliseconds(100) && waited <= t + .seconds(1) + roundTrip, "AD-2",
                              expected: "the 204 between T - 0.1 s and T + 1 s (+ one round trip) of the advertised T = \(seconds) s",
                              actual: "after \(waited)")
                return
            }
        },
    ]
}
