import GPollSpec
import GPollWire

/// Everything a run knows about the server under test, from the command line.
public struct Settings: Sendable {
    public var pollURL: Endpoint
    public var publishURL: Endpoint?
    public var publishHeaders: [(String, String)]
    public var secondEndpoint: Endpoint?
    public var secondPublishURL: Endpoint?
    /// B, the per-client buffer capacity.
    public var clientBuffer: Int
    /// The longest round trip of the probe's exchanges (Spec §16.4): "at once" allows
    /// one second plus this, or plus the settle time if that is longer.
    public var roundTrip: Duration = .zero
    /// Whether B came from the command line; if not, the server's advertised B is used.
    public var clientBufferGiven = false
    /// The settings learnt from the server's handshake object (Spec §17) because the
    /// command line did not give them, e.g. `poll-timeout 30`: the reports name them.
    public var learnt: [String] = []
    /// T; nil when unknown (timeout cases are skipped).
    public var pollTimeout: Duration?
    /// E; nil when unknown (idle-expiry cases are skipped).
    public var idleExpiry: Duration?
    /// The configured client limit; nil when unknown (the 503 case is skipped).
    public var maxClients: Int?
    /// Per-case limit; a case still running then is an ERROR.
    public var caseTimeout: Duration
    /// How long to let an asynchronous server apply a publish or notice a disconnect
    /// before checking that something did not happen.
    public var settle: Duration
    public var strict: Bool
    /// Whether the server offers acknowledged delivery (learnt from its handshake).
    public var serverOffersAck: Bool = false
    /// What the server showed of itself before the cases ran (``ServerProbe``); nil until then.
    public var probed: ProbedServer?
    /// Whether the stress tier (cases that need `stress`) runs.
    public var stress: Bool = false
    /// How many non-publishing cases run at once.
    public var parallelism: Int

    public init(pollURL: Endpoint, publishURL: Endpoint? = nil, publishHeaders: [(String, String)] = [],
                secondEndpoint: Endpoint? = nil, secondPublishURL: Endpoint? = nil, clientBuffer: Int = 100,
                pollTimeout: Duration? = nil, idleExpiry: Duration? = nil, maxClients: Int? = nil,
                caseTimeout: Duration = .seconds(10), settle: Duration = .milliseconds(150), strict: Bool = false,
                parallelism: Int = 16) {
        self.pollURL = pollURL
        self.publishURL = publishURL
        self.publishHeaders = publishHeaders
        self.secondEndpoint = secondEndpoint
        self.secondPublishURL = secondPublishURL
        self.clientBuffer = clientBuffer
        self.pollTimeout = pollTimeout
        self.idleExpiry = idleExpiry
        self.maxClients = maxClients
        self.caseTimeout = caseTimeout
        self.settle = settle
        self.strict = strict
        self.parallelism = parallelism
    }

    /// Why a case with these needs cannot run, or nil if it can. A setting of 0
    /// means "never" (no poll timeout, no idle expiry), so a case that needs the
    /// timer to fire is skipped then, with that reason (Spec §16.2).
    func unmetNeed(_ needs: [Catalog.Need]) -> String? {
        for need in needs {
            switch need {
            case .publish where publishURL == nil: return "needs --publish-url"
            case .pollTimeout where pollTimeout == nil: return "needs --poll-timeout"
            case .pollTimeout where pollTimeout == .zero: return "needs a poll timeout (T is 0: polls never time out)"
            case .idleExpiry where idleExpiry == nil: return "needs --idle-expiry"
            case .idleExpiry where idleExpiry == .zero: return "needs an idle expiry (E is 0: clients never expire)"
            case .maxClients where maxClients == nil: return "needs --max-clients"
            case .secondEndpoint where secondEndpoint == nil: return "needs --second-endpoint"
            case .secondEndpoint where needs.contains(.publish) && secondPublishURL == nil:
                return "needs --second-publish-url"
            case .clientBufferAtLeast(let count) where clientBuffer < count:
                return "needs B of at least \(count) (B is \(clientBuffer))"
            case .ack where !serverOffersAck:
                return "the server does not offer acknowledged delivery (no \"ack\" in its handshake's extensions)"
            case .stress where !stress: return "stress tier: run with --stress"
            default: continue
            }
        }
        return nil
    }

    /// The time limit of a case with these needs: `--timeout`, plus room for
    /// cases that must sit out T or E (twice, with the Spec's one-second
    /// tolerance each time), so that a server with T = 30 s is judged, not timed out.
    func timeLimit(for needs: [Catalog.Need]) -> Duration {
        var limit = caseTimeout
        if needs.contains(.pollTimeout), let pollTimeout { limit += (pollTimeout + .seconds(1)) * 2 }
        if needs.contains(.idleExpiry), let idleExpiry { limit += (idleExpiry + .seconds(1)) * 2 }
        // The stress tier moves thousands of requests, and each of its steps (a handshake,
        // a publish to 10,000 waiting polls) may take 30 s on a loaded machine: a slow but
        // correct server gets three minutes more.
        if needs.contains(.stress) { limit += .seconds(180) }
        return limit
    }

    /// Whether the second endpoint is a lane of its own: an independent broadcast
    /// domain with its own publish URL, where publishing cases can run beside those
    /// of the first endpoint.
    var hasTwoLanes: Bool { publishURL != nil && secondEndpoint != nil && secondPublishURL != nil }

    /// The settings a case on `lane` sees: on lane B the second endpoint and its
    /// publish URL are the case's own, and the first endpoint is its "second", so a
    /// case never needs to know which lane it is on.
    func onLane(_ lane: Lane) -> Settings {
        guard lane == .b, let second = secondEndpoint, let secondPublish = secondPublishURL else { return self }
        var settings = self
        settings.pollURL = second
        settings.publishURL = secondPublish
        settings.secondEndpoint = pollURL
        settings.secondPublishURL = publishURL
        return settings
    }
}
