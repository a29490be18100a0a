import GPollCore
import GPollWire

/// Spec section 3: transport and endpoint.
enum TransportCases {
    static let all: [ConformanceCase] = [
        ConformanceCase("transport/001") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c, requirement: "TR-2")
            let m = ctx.message()
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.poll(id, on: c), m, requirement: "TR-2")
        },
        ConformanceCase("transport/002") { ctx in
            let id = try await ctx.handshake()
            let m = ctx.message()
            try await ctx.publish(m)
            let head = try await ctx.connect()
            // Any answer or a refusal is fine; only the queue matters.
            _ = try await ctx.send(WireRequest(method: "HEAD", target: head.endpoint.target(clientID: Array(id.description.utf8))),
                                   on: head, within: ctx.settle)
            try ctx.expectMessage(try await ctx.poll(id, on: try await ctx.connect()), m, requirement: "TR-4")
        },
        ConformanceCase("transport/003") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            let form = [("Content-Type", "application/x-www-form-urlencoded")]
            let shake = WireRequest(target: ctx.target(clientID: "0"), headers: form, body: Array("client-id=\(id)".utf8))
            let text = try ctx.expectHandshakeAnswer(try await ctx.send(shake, on: c, within: ctx.prompt), "TR-5",
                                                     what: "client-id=0 with a body naming a live id")
            try ctx.check(text != id.description, "TR-5", expected: "a new id", actual: "the live id \(id) again")
            let poll = WireRequest(target: ctx.target(clientID: id.description), headers: form, body: Array("client-id=0".utf8))
            try ctx.expectMessage(try await ctx.send(poll, on: c, within: ctx.patience), m, requirement: "TR-5")
        },
        ConformanceCase("transport/004") { ctx in
            let c = try await ctx.connect()
            let shake = try ctx.expectStatus(try await ctx.get(clientID: "0", on: c), 200, requirement: "HS-1", what: "a handshake")
            try ctx.check(shake.cacheControlHas("no-store"), "TR-6", expected: "Cache-Control: no-store on the handshake",
                          actual: shake.value("Cache-Control").map { "Cache-Control: \($0)" } ?? "no Cache-Control")
            let missing = try ctx.expectStatus(try await ctx.get(clientID: "abcdefghij", on: c), 404, requirement: "NF-1",
                                               what: "client-id=abcdefghij")
            try ctx.check(missing.cacheControlHas("no-store"), "TR-6", expected: "Cache-Control: no-store on the 404",
                          actual: missing.value("Cache-Control").map { "Cache-Control: \($0)" } ?? "no Cache-Control")
        },
        ConformanceCase("transport/005") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            let event = try await ctx.poll(id, on: c)
            try ctx.expectMessage(event, m, requirement: "PO-1")
            let response = event.response!
            try ctx.check(response.cacheControlHas("no-store"), "TR-6", expected: "Cache-Control: no-store on the message",
                          actual: response.value("Cache-Control").map { "Cache-Control: \($0)" } ?? "no Cache-Control")
        },
        ConformanceCase("transport/006", estimate: { $0.pollTimeout ?? .zero }) { ctx in
            let t = ctx.settings.pollTimeout!
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let event = try await ctx.poll(id, on: c, within: t + .milliseconds(1500))
            let response = try ctx.expectStatus(event, 204, requirement: "TO-1", what: "an idle poll after T")
            try ctx.check(response.cacheControlHas("no-store"), "TR-6", expected: "Cache-Control: no-store on the 204",
                          actual: response.value("Cache-Control").map { "Cache-Control: \($0)" } ?? "no Cache-Control")
        },
    ]
}

// MARK: - gpoll/1.1 cases of section 3 (HEAD, request bodies, error and message headers)

extension TransportCases {
    static let gpoll11: [ConformanceCase] = [
        ConformanceCase("transport/007") { ctx in
            let c = try await ctx.connect()
            let event = try await ctx.send(WireRequest(method: "HEAD", target: ctx.target(clientID: "0")), on: c, within: ctx.prompt)
            let response = try ctx.expectStatus(event, 405, requirement: "TR-7", what: "HEAD with client-id=0")
            let allowed = response.values("Allow").flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
            try ctx.check(allowed.contains("GET"), "TR-7", expected: "an Allow header naming GET on the 405",
                          actual: response.value("Allow").map { "Allow: \($0)" } ?? "no Allow header")
            // A HEAD answer carries no body (TR-1: correct framing). One sent anyway would
            // be read as the start of a further answer on this connection.
            let after = await c.next(within: ctx.settle)
            switch after {
            case .malformed, .response:
                throw ctx.fail("TR-1", expected: "nothing after the 405 to HEAD (a HEAD answer has no body)", actual: after.summary)
            case .closed:
                return ctx.note("the server closed the connection after the 405")
            case .timedOut:
                break
            }
            guard response.value("Connection")?.lowercased().contains("close") != true,
                  (try? await c.send(WireRequest(target: ctx.target(clientID: "0")))) != nil else { return }
            let next = await c.next(within: ctx.prompt)
            if case .closed = next { return ctx.note("the server closed the connection after the 405") }
            try ctx.expectHandshakeAnswer(next, "TR-1", what: "a handshake sent after the HEAD answer on the same connection")
        },
        ConformanceCase("transport/008") { ctx in
            let c = try await ctx.connect()
            try await c.sendRaw(chunkedGET(ctx, target: ctx.target(clientID: "0"), chunks: ["client-id=", "0&x=1"]))
            let shake = try ctx.expectStatus(await c.next(within: ctx.prompt), 200, requirement: "TR-5",
                                             what: "a handshake (client-id=0) with a chunked request body")
            guard case .success(let id) = HandshakeBody.decode(shake.body) else {
                throw ctx.fail("TR-5", expected: "a handshake answer to client-id=0 with a chunked body",
                               actual: Transcript.escape(shake.body, limit: 120))
            }
            let m = ctx.message()
            try await ctx.publish(m)
            // The body names a handshake: it must change nothing.
            try await c.sendRaw(chunkedGET(ctx, target: ctx.target(clientID: id.description), chunks: ["client-id=0"]))
            try ctx.expectMessage(try await ctx.awaitMessage(id, on: c), m, requirement: "TR-5")
            // Both chunked bodies were read as bodies, not as requests: the connection still works.
            try await ctx.expectHandshake("0", on: c, "TR-5")
        },
        ConformanceCase("transport/009") { ctx in
            let waiting = try await ctx.connect()
            let a = try await ctx.handshake(on: waiting)
            try await ctx.startPoll(a, on: waiting)
            let big = try await ctx.connect()
            let length = 1 << 20
            let head = "GET \(String(decoding: ctx.target(clientID: "0"), as: UTF8.self)) HTTP/1.1\r\n"
                + "Host: \(ctx.settings.pollURL.hostHeader)\r\nContent-Type: application/octet-stream\r\nContent-Length: \(length)\r\n\r\n"
            try await big.sendRaw(Array(head.utf8))
            // The body goes out without waiting for the server to take it all: one that
            // refuses it (413, TR-10) may stop reading, and its answer is what counts.
            // The write ends with the connection at the latest, when the case closes it.
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: length)
            let upload = Task { try? await big.sendRaw(body) }
            defer { upload.cancel() }
            let event = await big.next(within: ctx.patience)
            switch event {
            case .response(let response) where response.status == 413:
                ctx.note("the body was refused with 413 (TR-10 allows it)")
            case .response(let response) where response.status == 200:
                try ctx.expectHandshakeAnswer(event, "TR-5", what: "a handshake (client-id=0) with a 1 MiB body")
            case .closed:
                // A server that answers 413 and closes before reading the rest makes the
                // kernel reset the connection, which can discard the 413 on its way: the
                // server's health below decides.
                ctx.note("the connection closed without an answer we could read (a 413 may be lost to the reset)")
            default:
                throw ctx.fail("TR-5", expected: "a handshake answer (or 413) to client-id=0 with a 1 MiB body", actual: event.summary)
            }
            let m = ctx.message()
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.awaitMessage(a, on: waiting), m, requirement: "RL-6")
            try await ctx.expectHandshake("0", on: try await ctx.connect(), "RL-6")
        },
        ConformanceCase("transport/010") { ctx in
            let c = try await ctx.connect()
            let bad = try await ctx.get(clientID: "%zz", on: c)
            if let response = bad.response, response.status == 400 {
                try ctx.check(response.cacheControlHas("no-store"), "TR-6", expected: "Cache-Control: no-store on the 400 to client-id=%zz",
                              actual: response.value("Cache-Control").map { "Cache-Control: \($0)" } ?? "no Cache-Control")
            } else {
                ctx.note("client-id=%zz got \(bad.summary), not 400 (param/005 judges that): no 400 to look at")
            }
            let long = try await ctx.connect()
            try await long.sendRaw(LimitsCases.raw(ctx, target: LimitsCases.longTarget(ctx, length: 70_000)))
            let event = await long.next(within: ctx.prompt)
            if let response = event.response, response.status == 414 {
                try ctx.check(response.cacheControlHas("no-store"), "TR-6", expected: "Cache-Control: no-store on the 414",
                              actual: response.value("Cache-Control").map { "Cache-Control: \($0)" } ?? "no Cache-Control")
            } else {
                ctx.note("a 70,000-byte target got \(event.summary), not 414 (limits/004 judges that): no 414 to look at")
            }
        },
        ConformanceCase("transport/011") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            // The second one is what a sniffing browser would render as a page.
            let html = Array("<html><body><script>document.title='".utf8) + ctx.message() + Array("'</script></body></html>".utf8)
            for m in [ctx.message(), html] {
                try await ctx.publish(m)
                let event = try await ctx.poll(id, on: c)
                try ctx.expectMessage(event, m, requirement: "DL-4")
                let response = event.response!
                let what = "the message answer for '\(Transcript.escape(m, limit: 40))'"
                try ctx.check(response.mediaType == "application/octet-stream", "TR-8",
                              expected: "Content-Type: application/octet-stream on \(what)",
                              actual: response.value("Content-Type").map { "Content-Type: \($0)" } ?? "no Content-Type")
                let options = response.values("X-Content-Type-Options").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                try ctx.check(options.contains("nosniff"), "TR-8", expected: "X-Content-Type-Options: nosniff on \(what)",
                              actual: response.value("X-Content-Type-Options").map { "X-Content-Type-Options: \($0)" }
                                  ?? "no X-Content-Type-Options")
            }
        },
        ConformanceCase("transport/012") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            // Text that compresses well, so that a server inclined to compress would.
            let text = ctx.message() + Array(String(repeating: " the same words again and again", count: 64).utf8)
            try await ctx.publish(text)
            let plain = try ctx.expectStatus(try await ctx.poll(id, on: c), 200, requirement: "TR-9",
                                             what: "a poll (no Accept-Encoding) owed a \(text.count)-byte message")
            let encodings = plain.values("Content-Encoding").filter { $0.trimmingCharacters(in: .whitespaces).lowercased() != "identity" }
            try ctx.check(encodings.isEmpty, "TR-9", expected: "no Content-Encoding: the poll sent no Accept-Encoding",
                          actual: "Content-Encoding: \(encodings.joined(separator: ", "))")
            try ctx.expectMessage(.response(plain), text, requirement: "TR-9")
            let m = ctx.message("range") + Array(String(repeating: "0123456789", count: 10).utf8)
            try await ctx.publish(m)
            let ranged = WireRequest(target: ctx.target(clientID: id.description), headers: [("Range", "bytes=0-0")])
            let event = try await ctx.send(ranged, on: c, within: ctx.patience)
            try ctx.check(event.response?.status != 206, "TR-9", expected: "200 with the whole message to a poll with Range: bytes=0-0",
                          actual: "206 with \(event.response?.body.count ?? 0) bytes")
            try ctx.expectMessage(event, m, requirement: "TR-9")
        },
    ]

    /// A GET whose body is sent with `Transfer-Encoding: chunked`, one chunk per string.
    static func chunkedGET(_ ctx: CaseContext, target: [UInt8], chunks: [String]) -> [UInt8] {
        var bytes = Array("GET ".utf8) + target + Array(" HTTP/1.1\r\nHost: \(ctx.settings.pollURL.hostHeader)\r\n".utf8)
        bytes += Array("Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        for chunk in chunks { bytes += Array("\(String(chunk.utf8.count, radix: 16))\r\n\(chunk)\r\n".utf8) }
        return bytes + Array("0\r\n\r\n".utf8)
    }
}
