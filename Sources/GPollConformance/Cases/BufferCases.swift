import GPollCore

/// Spec section 9: buffer and eviction.
enum BufferCases {
    static let all: [ConformanceCase] = [
        ConformanceCase("buffer/001") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let messages = ctx.messages(ctx.clientBuffer)
            try await ctx.publish(all: messages)
            try await ctx.settleDown()
            try await ctx.expectMessages(id, on: c, messages, "BU-3")
            let after = try await ctx.poll(id, on: c, within: ctx.settle)
            try ctx.check(after.response?.status != 404, "BU-3", expected: "the client still live after B messages",
                          actual: "404")
        },
        ConformanceCase("buffer/002") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            try await ctx.publish(all: ctx.messages(ctx.clientBuffer + 1))
            try await ctx.settleDown()
            try await ctx.expectNotFound(id.description, on: c, "BU-2")
            try await ctx.expectNotFound(id.description, on: c, "BU-4")
        },
        ConformanceCase("buffer/003") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            try await ctx.startPoll(id, on: c)
            try await ctx.expectQuiet(c, requirement: "PO-3", what: "a poll with nothing to deliver")
            let messages = ctx.messages(ctx.clientBuffer + 1)
            try await ctx.publish(messages[0])
            try ctx.expectMessage(try await ctx.awaitMessage(id, on: c), messages[0], requirement: "BU-5")
            try await ctx.publish(all: Array(messages.dropFirst()))
            try await ctx.settleDown()
            try await ctx.expectMessages(id, on: c, Array(messages.dropFirst()), "BU-5")
        },
        ConformanceCase("buffer/004") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let messages = ctx.messages(ctx.clientBuffer + 1)
            try await ctx.publish(all: Array(messages.prefix(ctx.clientBuffer)))
            try ctx.expectMessage(try await ctx.poll(id, on: c), messages[0], requirement: "BU-3")
            try await ctx.publish(messages.last!)
            try await ctx.settleDown()
            try await ctx.expectMessages(id, on: c, Array(messages.dropFirst()), "BU-3")
        },
        ConformanceCase("buffer/005") { ctx in
            let (ca, cc) = (try await ctx.connect(), try await ctx.connect())
            let a = try await ctx.handshake(on: ca)
            let c = try await ctx.handshake(on: cc)
            let messages = ctx.messages(ctx.clientBuffer)
            try await ctx.publish(all: messages)
            try await ctx.expectMessages(c, on: cc, messages, "BU-6")
            let m = ctx.message()
            try await ctx.publish(m)
            try await ctx.settleDown()
            try await ctx.expectNotFound(a.description, on: ca, "BU-2")
            try ctx.expectMessage(try await ctx.poll(c, on: cc), m, requirement: "BU-6")
        },
    ]
}
