import Foundation
import NIOCore
import NIOHTTP1

/// One connection of ``FakeGPollServer``: classifies each request and answers it,
/// or parks it as a waiting poll.
final class FakeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: FakeGPollServer
    private var context: ChannelHandlerContext?
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var waitingFor: (FakeClient, FakeEndpoint)?
    /// Whether the waiting poll carried `ack`: its message then stays unacknowledged.
    private var waitingAcknowledges = false
    private var timeoutTask: Scheduled<Void>?
    private var connectionID: String?
    private var open = true
    /// The endpoint this connection last spoke to (a publish URL counts as its endpoint).
    private var endpointPath = "/poll"
    /// Between a request's head and its end (blocksOnSlowHeaders tells heads from bodies by it).
    private var inRequest = false

    init(server: FakeGPollServer) { self.server = server }
    private func has(_ d: FakeDefect) -> Bool { server.has(d) }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        server.connections[ObjectIdentifier(self)] = context.channel
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        open = false
        server.connections[ObjectIdentifier(self)] = nil
        headCompleted()
        if let (client, endpoint) = waitingFor {
            timeoutTask?.cancel()
            if has(.evictOnDisconnect) { server.evict(client, from: endpoint) }
            // With lossOnDisconnect the dead poll stays and swallows the next message.
            if !has(.lossOnDisconnect) { client.waiting.removeAll { $0 === self } }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if has(.badInputKillsAll) { server.closeEveryone() }
        if !has(.no400) && open {
            respond(status: .badRequest, close: true)
        } else {
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h; body = []; headCompleted()
        case .body(let b): body += b.readableBytesView
        case .end: inRequest = false; if let head { handle(head, body) }
        }
    }

    // MARK: Responses

    func respond(status: HTTPResponseStatus, body: [UInt8] = [], contentType: String? = nil, extra: [(String, String)] = [], close: Bool = false) {
        guard let context, open else { return }
        var (status, body, contentType, extra) = (status, body, contentType, extra)
        if contentType == Self.messageType { (status, body, contentType, extra) = messageAnswer(status, body, extra) }
        var headers = HTTPHeaders()
        if !has(.noCacheControl) && !(has(.noCacheControlOnErrors) && [.badRequest, .uriTooLong].contains(status)) {
            headers.add(name: "Cache-Control", value: "no-store")
        }
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        if has(.leaksIDs), let clients = server.endpoints[endpointPath]?.clients.values, !clients.isEmpty {
            // Every live id: the oldest is no longer the case's own (the run's probe registers first).
            headers.add(name: "X-Clients", value: clients.sorted { $0.serial < $1.serial }.map(\.id).joined(separator: ","))
        }
        for (n, v) in extra { headers.add(name: n, value: v) }
        if status != .noContent { headers.add(name: "Content-Length", value: String(body.count)) }
        if close { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !body.isEmpty && head?.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }

    /// Hands a message to this parked poll.
    func deliver(_ message: [UInt8]) {
        timeoutTask?.cancel()
        guard let (client, _) = waitingFor else { return respondMessage(message, sequence: nil) }
        waitingFor = nil
        respondMessage(message, sequence: handOut(message, to: client, acknowledged: !waitingAcknowledges))
    }

    /// Records a first hand-out and returns its sequence number; a gpoll/1 poll's answer is acknowledged at once.
    private func handOut(_ message: [UInt8], to client: FakeClient, acknowledged: Bool) -> Int {
        client.history.append(message)
        client.resend = client.history.count
        if acknowledged || has(.ackLosesUnacknowledged) { client.acked = client.history.count }
        return client.history.count
    }

    /// A poll's 200, with its `GPoll-Sequence` (AK-1).
    private func respondMessage(_ message: [UInt8], sequence: Int?) {
        if message.isEmpty && has(.empty204) { return respond(status: .noContent) }
        var extra: [(String, String)] = []
        if let sequence, !has(.noSequenceHeader) { extra.append(("GPoll-Sequence", String(has(.sequenceFromZero) ? sequence - 1 : sequence))) }
        respond(status: .ok, body: message, contentType: "application/octet-stream", extra: extra)
    }

    // MARK: Requests

    private func handle(_ head: HTTPRequestHead, _ body: [UInt8]) {
        if parksBehindSlowHead(head, body) { return }
        let uri = Array(head.uri.utf8)
        let limit = has(.shortTargetLimit) ? 512 : 8192
        if uri.count > limit && !has(.no414) { return respond(status: .uriTooLong, close: true) }
        let pathEnd = uri.firstIndex(of: UInt8(ascii: "?")) ?? uri.endIndex
        let path = String(decoding: uri[..<pathEnd], as: UTF8.self)
        let query = pathEnd < uri.endIndex ? Array(uri[(pathEnd + 1)...]) : nil
        switch path {
        case "/publish": endpointPath = "/poll"
        case "/publish2": endpointPath = "/poll2"
        case "/poll", "/poll2": endpointPath = path
        default: break
        }
        switch path {
        case "/publish", "/publish2":
            return publish(head, body, to: path == "/publish" ? "/poll" : "/poll2")
        case "/poll", "/poll2":
            break
        default:
            return respond(status: .notFound)
        }
        let endpoint = server.endpoints[path]!
        if head.method == .GET && has(.rejectsGET) { return respond(status: .methodNotAllowed) }
        if head.method == .HEAD && !has(.headConsumes) {
            return respond(status: .methodNotAllowed, extra: has(.headWithoutAllow) ? [] : [("Allow", "GET")])
        }
        if refusesBody(head, body) { return }
        if head.method == .POST && has(.publishViaPoll) && !body.isEmpty { server.publish(body, to: path) }
        var parameterSource = query
        if has(.bodyOverridesQuery), String(decoding: body, as: UTF8.self).hasPrefix("client-id=") { parameterSource = body }

        let value: [UInt8]?
        switch parameter(parameterSource) {
        case .absent: value = nil
        case .value(let v): value = v
        case .badEscape:
            if has(.crashOnBadEscape) { return respond(status: .internalServerError) }
            if has(.badEscape404) { return respond(status: .notFound) }
            return respond(status: .badRequest, extra: [("GPoll-Reason", "malformed")])
        }
        guard let v = value else {
            return has(.requiresClientID) ? respond(status: .badRequest) : handshake(endpoint)
        }
        if has(.rejectsNonUTF8) && String(validating: v, as: UTF8.self) == nil {
            return respond(status: .badRequest)
        }
        let length = has(.lengthInCharacters) ? String(decoding: v, as: UTF8.self).count : v.count
        let threshold = has(.handshakeAtTenBytes) ? 11 : 10
        let dollar = UInt8(ascii: "$")
        if length < threshold {
            if has(.requiresClientID) && v.isEmpty { return respond(status: .badRequest) }
            if has(.dollarShortIsPoll) && v.contains(dollar) { return notFound(v, endpoint) }
            return handshake(endpoint)
        }
        guard v.contains(dollar) else { return has(.noDollarHandshake) ? handshake(endpoint) : notFound(v, endpoint) }
        guard let (routine, uuid) = split(v) else { return notFound(v, endpoint) }
        let lookup = has(.acceptsUppercaseUUID) ? uuid.lowercased() : uuid
        let pool = has(.sharedEndpoints) ? Array(server.endpoints.values) : [endpoint]
        guard let (client, home) = pool.lazy.compactMap({ e in e.clients[lookup].map { ($0, e) } }).first,
              has(.ignoresRoutine) || routine == client.routine
        else { return notFound(v, endpoint) }
        if has(.lateRegistration) && NIODeadline.now() < client.liveAt { return notFound(v, endpoint) }
        var ack: Int?
        switch ackParameter(query) {
        case .absent: ack = nil
        case .value(let n): ack = n
        case .malformed:
            if !has(.acceptsBadAck) { return respond(status: .badRequest, extra: [("GPoll-Reason", "malformed")]) }
            ack = 0
        }
        if let n = ack, n > client.history.count {
            if !has(.acceptsBadAck) { return respond(status: .badRequest, extra: [("GPoll-Reason", "malformed")]) }
            ack = client.history.count
        }
        poll(client, home, ack: ack)
    }

    private enum AckParameter { case absent, value(Int), malformed }

    /// `ack=n`: 1 to 20 digits (a value too large for Int is above anything delivered).
    private func ackParameter(_ query: [UInt8]?) -> AckParameter {
        for item in (query ?? []).split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let eq = item.firstIndex(of: UInt8(ascii: "="))
            guard decode(item[..<(eq ?? item.endIndex)]) == Array("ack".utf8) else { continue }
            guard let raw = decode(eq.map { item[item.index(after: $0)...] } ?? []), (1...20).contains(raw.count),
                  raw.allSatisfy({ (0x30...0x39).contains($0) }) else { return .malformed }
            return .value(Int(String(decoding: raw, as: UTF8.self)) ?? .max)
        }
        return .absent
    }

    private enum Parameter { case absent, value([UInt8]), badEscape }

    private func parameter(_ query: [UInt8]?) -> Parameter {
        guard let query else { return .absent }
        var found: Parameter = .absent
        for item in query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let eq = item.firstIndex(of: UInt8(ascii: "="))
            guard var name = decode(item[..<(eq ?? item.endIndex)]) else { continue }
            if has(.caseInsensitiveName) { name = Array(String(decoding: name, as: UTF8.self).lowercased().utf8) }
            guard name == Array("client-id".utf8) else { continue }
            let raw = eq.map { item[item.index(after: $0)...] } ?? []
            let result: Parameter = decode(raw).map { .value($0) } ?? .badEscape
            if case .badEscape = result, has(.badEscapeItemSkipped) { continue }
            if !has(.lastClientIDWins) { return result }
            found = result
        }
        return found
    }

    private func decode(_ bytes: some Collection<UInt8>) -> [UInt8]? {
        let bytes = Array(bytes)
        if has(.noPercentDecoding) { return bytes.map { $0 == UInt8(ascii: "+") ? 0x20 : $0 } }
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "+"): out.append(0x20); i += 1
            case UInt8(ascii: "%"):
                guard i + 2 < bytes.count,
                      let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) else { return nil }
                out.append(h << 4 | l); i += 3
            default: out.append(bytes[i]); i += 1
            }
        }
        return out
    }

    private func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x61...0x66: return b - 0x61 + 10
        case 0x41...0x46: return b - 0x41 + 10
        default: return nil
        }
    }

    /// R and U of `R$U`; strict unless lenientIDs (the original's reading).
    private func split(_ v: [UInt8]) -> (Int, String)? {
        let parts = v.split(separator: UInt8(ascii: "$"), omittingEmptySubsequences: false)
        let r = String(decoding: parts[0], as: UTF8.self)
        if has(.lenientIDs) {
            return (Int(r) ?? 0, String(decoding: parts[1], as: UTF8.self))
        }
        guard parts.count == 2, !r.isEmpty, r.allSatisfy(\.isASCII), r.allSatisfy(\.isNumber), r == "0" || !r.hasPrefix("0"),
              r.count <= 9, let routine = Int(r) else { return nil }
        return (routine, String(decoding: parts[1], as: UTF8.self))
    }

    private func notFound(_ v: [UInt8], _ endpoint: FakeEndpoint) {
        if has(.noNotFound) { return } // never answers: the request hangs
        if has(.notFoundDisturbs) {
            let text = String(decoding: v, as: UTF8.self).lowercased()
            for client in endpoint.clients.values where text.contains(client.uuid) {
                if !client.queue.isEmpty { client.queue.removeFirst() }
                if !client.waiting.isEmpty { client.waiting.removeFirst().respond(status: .noContent) }
            }
        }
        respond(status: .notFound, extra: [("GPoll-Reason", reason(for: v, in: endpoint))])
    }

    /// `evicted` or `expired` for exactly an ended id, else `unknown` (NF-10).
    private func reason(for v: [UInt8], in endpoint: FakeEndpoint) -> String {
        let text = String(decoding: v, as: UTF8.self)
        if has(.reasonsByUUID), let dollar = text.firstIndex(of: "$"), endpoint.issued.contains(String(text[text.index(after: dollar)...])),
           endpoint.clients[String(text[text.index(after: dollar)...])]?.id != text {
            return "evicted"
        }
        return endpoint.ended[text] ?? "unknown"
    }

    private func handshake(_ endpoint: FakeEndpoint) {
        if let max = server.config.maxClients, endpoint.clients.count >= max, !has(.no503) {
            return respond(status: .serviceUnavailable, body: Array("full".utf8), extra: [("Retry-After", "1")])
        }
        let uuid: String
        if has(.sameIDPerConnection), let id = connectionID, endpoint.clients[id] != nil {
            uuid = id
        } else {
            uuid = server.newUUID()
            let liveAt = has(.lateRegistration) ? NIODeadline.now() + .milliseconds(300)
                : has(.lateSubscription) ? NIODeadline.now() + .milliseconds(200) : .now()
            let client = FakeClient(uuid: uuid, serial: endpoint.registered, liveAt: liveAt)
            endpoint.registered += 1
            if !(has(.losesRegistrations) && client.serial % 200 == 199) { endpoint.clients[uuid] = client }
            endpoint.issued.insert(uuid)
            if has(.deliversPreRegistrationMessages), let last = endpoint.lastPublished { client.queue.append(last) }
        }
        connectionID = uuid
        let id = "0$\(uuid)"
        let body: String
        // `registered` has just counted this client: even means every second handshake.
        let intermittent = has(.everyOtherHandshakeNotJSON) && endpoint.registered % 2 == 0
        if has(.handshakeNotJSON) || intermittent { body = id } else if has(.twoClientIDMembers) {
            body = #"{"client-id":"0$00000000-0000-4000-8000-000000000000","client-id":"\#(id)"}"#
        } else if has(.prettyHandshake) { body = "{ \"client-id\" : \"\(id)\", \"v\": 1 }\n" } else { body = #"{"client-id":"\#(id)""# + advertisement + "}" }
        respond(status: .ok, body: Array(body.utf8), contentType: has(.textPlainHandshake) ? "text/plain; charset=utf-8" : "application/json")
    }

    /// The gpoll/1.1 members of the handshake object (AD-1).
    private var advertisement: String {
        func seconds(_ amount: TimeAmount?) -> Double { Double(amount?.nanoseconds ?? 0) / 1e9 }
        let b = has(.advertisesWrongBuffer) ? server.config.clientBuffer + 1 : server.config.clientBuffer
        let t = seconds(server.config.pollTimeout) * (has(.advertisesWrongTimeout) ? 2 : 1)
        return #","gpoll":"1.1","poll-timeout":\#(t),"client-buffer":\#(has(.advertisesWrongTypes) ? "\"\(b)\"" : "\(b)"),"#
            + #""idle-expiry":\#(seconds(server.config.idleExpiry)),"extensions":["ack"]"#
    }

    private func poll(_ client: FakeClient, _ endpoint: FakeEndpoint, ack: Int?) {
        client.lastActivity = .now()
        // An ack acknowledges up to n (never back, unless staleAckRewinds); a poll without
        // one acknowledges everything handed out (unless plainPollKeepsUnacknowledged).
        if let ack {
            if ack > client.acked || has(.staleAckRewinds) { client.acked = ack }
        } else if !has(.plainPollKeepsUnacknowledged) {
            client.acked = client.history.count
        }
        client.resend = client.acked
        if client.resend < client.history.count {
            let sequence = client.resend + 1
            client.resend += 1
            if ack == nil { client.acked = client.resend }
            return respondMessage(client.history[sequence - 1], sequence: sequence)
        }
        if !client.queue.isEmpty {
            if has(.batchesMessages) {
                let all = client.queue.joined()
                client.queue.removeAll()
                return respond(status: .ok, body: Array(all), contentType: "application/octet-stream")
            }
            let m = client.queue.removeFirst()
            return respondMessage(m, sequence: handOut(m, to: client, acknowledged: ack == nil))
        }
        if has(.immediate204) { return respond(status: .noContent) }
        if !client.waiting.isEmpty && !has(.fanOutToPolls) {
            if has(.oldestPollWins) { return respond(status: .noContent) }
            let older = client.waiting.removeFirst()
            older.timeoutTask?.cancel()
            older.waitingFor = nil
            older.respond(status: .noContent)
        }
        client.waiting.append(self)
        waitingFor = (client, endpoint)
        waitingAcknowledges = ack != nil
        if let t = server.config.pollTimeout, !has(.noTimeout), let context {
            timeoutTask = context.eventLoop.assumeIsolated().scheduleTask(in: t) { [self] in
                client.waiting.removeAll { $0 === self }
                waitingFor = nil
                client.lastActivity = .now()
                if has(.timeoutLosesNext) { client.loseNext = true }
                respond(status: .noContent)
            }
        }
    }

    private func publish(_ head: HTTPRequestHead, _ body: [UInt8], to path: String) {
        guard head.method == .POST else { return respond(status: .methodNotAllowed) }
        if head.headers["Authorization"].first != "Bearer \(server.config.publishToken)" && !has(.publishIgnoresToken) {
            return respond(status: .unauthorized)
        }
        var message = body
        if has(.formDecodesPublishBody) {
            message = decode(Array(String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespaces).utf8)) ?? body
        }
        if has(.asyncPublish), let context {
            respond(status: .accepted)
            let late = message
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(400)) { self.server.publish(late, to: path) }
            return
        }
        server.publish(message, to: path)
        respond(status: .noContent)
    }
}

// MARK: - gpoll/1.1: message-answer headers, request bodies, slow heads

extension FakeHandler {
    static let messageType = "application/octet-stream"

    /// A message answer as Spec 1.1 has it (TR-8: octet-stream and nosniff; TR-9: no
    /// unasked Content-Encoding, Range ignored), or as a defect spoils it.
    func messageAnswer(_ status: HTTPResponseStatus, _ body: [UInt8], _ extra: [(String, String)])
        -> (HTTPResponseStatus, [UInt8], String?, [(String, String)]) {
        var (status, body, extra) = (status, body, extra)
        var type = Self.messageType
        if has(.sniffsContentType) {
            type = Self.sniffedType(body)  // and no nosniff: the original (Go's net/http) does so
        } else if !has(.noNosniff) {
            extra.append(("X-Content-Type-Options", "nosniff"))
        }
        if has(.honoursRange), let range = head?.headers.first(name: "Range"), let slice = Self.byteRange(range, count: body.count) {
            extra.append(("Content-Range", "bytes \(slice.lowerBound)-\(slice.upperBound - 1)/\(body.count)"))
            body = Array(body[slice])
            status = .partialContent
        }
        if has(.gzipsUnasked) {
            body = Self.gzipStored(body)
            extra.append(("Content-Encoding", "gzip"))
        }
        return (status, body, type, extra)
    }

    /// What content sniffing makes of a body: HTML, text or bytes.
    static func sniffedType(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(512), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        if text.hasPrefix("<html") { return "text/html; charset=utf-8" }
        if body.allSatisfy({ $0 >= 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) { return "text/plain; charset=utf-8" }
        return messageType
    }

    /// The bytes `Range: bytes=a-b` names, when it fits the body.
    static func byteRange(_ header: String, count: Int) -> Range<Int>? {
        guard header.hasPrefix("bytes=") else { return nil }
        let bounds = header.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard bounds.count == 2, let low = bounds[0], let high = bounds[1], low <= high, high < count else { return nil }
        return low..<(high + 1)
    }

    /// A valid gzip stream of `data` in stored (uncompressed) deflate blocks.
    static func gzipStored(_ data: [UInt8]) -> [UInt8] {
        func littleEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
        var offset = 0
        repeat {
            let n = min(65_535, data.count - offset)
            let last: UInt8 = offset + n == data.count ? 1 : 0
            out += [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[offset..<(offset + n)]
            offset += n
        } while offset < data.count
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return out + littleEndian(~crc) + littleEndian(UInt32(truncatingIfNeeded: data.count))
    }

    /// A request body on the poll endpoint is ignored (TR-5), unless it is over 512 KiB:
    /// then it is refused with 413 and the connection closed (TR-10), once read. Or as a
    /// defect has it.
    func refusesBody(_ head: HTTPRequestHead, _ body: [UInt8]) -> Bool {
        if has(.rejectsChunkedBody), head.headers[canonicalForm: "Transfer-Encoding"].contains(where: { $0.lowercased() == "chunked" }) {
            respond(status: .lengthRequired, close: true)
            return true
        }
        if has(.bigBody500) && body.count > 65_536 {
            respond(status: .internalServerError, close: true)
            return true
        }
        if body.count > 512 * 1024 {
            respond(status: .payloadTooLarge, close: true)
            return true
        }
        return false
    }

    // blocksOnSlowHeaders: a server that reads one request head at a time. While any
    // other connection is in the middle of a head, requests wait.

    /// Bytes arrived (ByteArrivalSpy): between requests, they start a head.
    func bytesArrived() {
        if !inRequest { server.midHead.insert(ObjectIdentifier(self)) }
    }

    /// The head is complete, or the connection gone: requests parked behind it go on.
    func headCompleted() {
        inRequest = true
        guard server.midHead.remove(ObjectIdentifier(self)) != nil else { return }
        let parked = server.parked
        server.parked = []
        for (handler, head, body) in parked { handler.handle(head, body) }
    }

    func parksBehindSlowHead(_ head: HTTPRequestHead, _ body: [UInt8]) -> Bool {
        guard has(.blocksOnSlowHeaders), server.midHead.contains(where: { $0 != ObjectIdentifier(self) }) else { return false }
        server.parked.append((self, head, body))
        return true
    }
}

/// blocksOnSlowHeaders: shows the handler a connection's bytes before the HTTP decoder
/// sees them, so that it knows when a head has begun but not ended.
final class ByteArrivalSpy: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let handler: FakeHandler
    init(_ handler: FakeHandler) { self.handler = handler }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handler.bytesArrived()
        context.fireChannelRead(data)
    }
}
