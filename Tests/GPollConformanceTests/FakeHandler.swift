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
    private var timeoutTask: Scheduled<Void>?
    private var connectionID: String?
    private var open = true
    /// The endpoint this connection last spoke to (a publish URL counts as its endpoint).
    private var endpointPath = "/poll"

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
        case .head(let h): head = h; body = []
        case .body(let b): body += b.readableBytesView
        case .end: if let head { handle(head, body) }
        }
    }

    // MARK: Responses

    func respond(status: HTTPResponseStatus, body: [UInt8] = [], contentType: String? = nil, extra: [(String, String)] = [], close: Bool = false) {
        guard let context, open else { return }
        var headers = HTTPHeaders()
        if !has(.noCacheControl) { headers.add(name: "Cache-Control", value: "no-store") }
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        if has(.leaksIDs), let last = server.endpoints[endpointPath]?.clients.values.min(by: { $0.serial < $1.serial }) {
            headers.add(name: "X-Last-Client", value: last.id)
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
        waitingFor = nil
        if message.isEmpty && has(.empty204) { respond(status: .noContent) } else { respond(status: .ok, body: message, contentType: "application/octet-stream") }
    }

    // MARK: Requests

    private func handle(_ head: HTTPRequestHead, _ body: [UInt8]) {
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
        if head.method == .HEAD && !has(.headConsumes) { return respond(status: .methodNotAllowed) }
        if head.method == .POST && has(.publishViaPoll) && !body.isEmpty { server.publish(body, to: path) }
        var parameterSource = query
        if has(.bodyOverridesQuery), String(decoding: body, as: UTF8.self).hasPrefix("client-id=") { parameterSource = body }

        let value: [UInt8]?
        switch parameter(parameterSource) {
        case .absent: value = nil
        case .value(let v): value = v
        case .badEscape:
            if has(.crashOnBadEscape) { return respond(status: .internalServerError) }
            return respond(status: has(.badEscape404) ? .notFound : .badRequest)
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
        poll(client, home)
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
        respond(status: .notFound)
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
            let liveAt = has(.lateRegistration) ? NIODeadline.now() + .milliseconds(300) : .now()
            let client = FakeClient(uuid: uuid, serial: endpoint.registered, liveAt: liveAt)
            endpoint.registered += 1
            endpoint.clients[uuid] = client
            if has(.deliversPreRegistrationMessages), let last = endpoint.lastPublished { client.queue.append(last) }
        }
        connectionID = uuid
        let id = "0$\(uuid)"
        let body: String
        // `registered` has just counted this client: even means every second handshake.
        let intermittent = has(.everyOtherHandshakeNotJSON) && endpoint.registered % 2 == 0
        if has(.handshakeNotJSON) || intermittent { body = id } else if has(.prettyHandshake) { body = "{ \"client-id\" : \"\(id)\", \"v\": 1 }\n" } else { body = #"{"client-id":"\#(id)"}"# }
        respond(status: .ok, body: Array(body.utf8), contentType: has(.textPlainHandshake) ? "text/plain; charset=utf-8" : "application/json")
    }

    private func poll(_ client: FakeClient, _ endpoint: FakeEndpoint) {
        client.lastActivity = .now()
        if !client.queue.isEmpty {
            if has(.batchesMessages) {
                let all = client.queue.joined()
                client.queue.removeAll()
                return respond(status: .ok, body: Array(all), contentType: "application/octet-stream")
            }
            let m = client.queue.removeFirst()
            return m.isEmpty && has(.empty204) ? respond(status: .noContent) : respond(status: .ok, body: m, contentType: "application/octet-stream")
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
