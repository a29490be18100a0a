import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// A client of the Chrome DevTools protocol over one WebSocket, the browser's own
/// endpoint (`ws://127.0.0.1:<port>/devtools/browser/<id>`). Pages are reached
/// through flattened sessions (`Target.attachToTarget` with `flatten: true`), so
/// one connection drives every page. Commands are JSON objects with an `id`; the
/// answer with the same `id` carries `result` or `error`. Events are not needed here.
final class DevTools: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
    private let state = Mutex(State())

    private struct State {
        var nextID = 1
        var pending: [Int: CheckedContinuation<Data, any Error>] = [:]
        /// Why no answer can come any more, once the connection has ended.
        var ended: String?
    }

    private enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    private init(outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>) {
        self.outbound = outbound
    }

    /// Connects to the browser endpoint at `port` and `path`, runs `body`, then closes the connection.
    static func connect<T: Sendable>(port: Int, path: String, _ body: @Sendable (DevTools) async throws -> T) async throws -> T {
        let upgrade: EventLoopFuture<Upgrade> = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A screenshot's answer is a few hundred KiB of base64 in one frame.
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: 64 << 20) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            .websocket(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                        }
                    }
                    // Chromium answers only requests whose Host is an IP address or localhost.
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path,
                                               headers: ["Host": "127.0.0.1:\(port)", "Content-Length": "0"])
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                        upgradeRequestHead: head, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { .refused } }
                    )
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: configuration))
                }
            }
        guard case .websocket(let channel) = try await upgrade.get() else {
            throw Failure(description: "Chromium refused the DevTools WebSocket upgrade at \(path)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            let devtools = DevTools(outbound: outbound)
            return try await withThrowingTaskGroup(of: T?.self, returning: T.self) { group in
                group.addTask {
                    await devtools.read(inbound)
                    return nil
                }
                // The reader ends when the connection closes: close it however the body ends.
                let result: Result<T, any Error>
                do { result = .success(try await body(devtools)) } catch { result = .failure(error) }
                try? await channel.channel.close()
                group.cancelAll()
                return try result.get()
            }
        }
    }

    /// Routes every answer to its caller until the connection ends, then fails the rest.
    private func read(_ inbound: NIOAsyncChannelInboundStream<WebSocketFrame>) async {
        var message = ByteBuffer()
        var why = "the DevTools connection closed"
        do {
            for try await frame in inbound {
                switch frame.opcode {
                case .text, .continuation:
                    var data = frame.unmaskedData
                    message.writeBuffer(&data)
                    if frame.fin {
                        deliver(Data(message.readableBytesView))
                        message.clear()
                    }
                case .ping:
                    try? await outbound.write(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
                default:
                    break  // binary frames are not used; a close frame is followed by the end of the stream
                }
            }
        } catch {
            why = "the DevTools connection failed: \(error)"
        }
        let waiting = state.withLock { state in
            state.ended = why
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for continuation in waiting { continuation.resume(throwing: Failure(description: why)) }
    }

    private func deliver(_ text: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: text) as? [String: Any],
              let id = object["id"] as? Int else { return }  // an event
        guard let continuation = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        if let error = object["error"] {
            continuation.resume(throwing: Failure(description: "DevTools error: \(error)"))
        } else {
            let result = (try? JSONSerialization.data(withJSONObject: object["result"] ?? [String: Any]())) ?? Data("{}".utf8)
            continuation.resume(returning: result)
        }
    }

    /// Sends `method` with `parameters` (JSON values: strings, numbers, booleans,
    /// dictionaries, arrays), to a page's `session` or to the browser; returns the
    /// answer's `result`. Fails after `timeout` without an answer.
    func call(_ method: String, _ parameters: [String: any Sendable] = [:], session: String? = nil,
              timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        let id = state.withLock { state -> Int in
            defer { state.nextID += 1 }
            return state.nextID
        }
        var command: [String: Any] = ["id": id, "method": method, "params": parameters]
        if let session { command["sessionId"] = session }
        let text = try JSONSerialization.data(withJSONObject: command)
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(bytes: text))
        let timer = Task { [self] in
            try await Task.sleep(for: timeout)
            let late = state.withLock { $0.pending.removeValue(forKey: id) }
            late?.resume(throwing: Failure(description: "no answer to \(method) within \(timeout)"))
        }
        defer { timer.cancel() }
        let result: Data = try await withCheckedThrowingContinuation { continuation in
            let ended = state.withLock { state -> String? in
                if state.ended == nil { state.pending[id] = continuation }
                return state.ended
            }
            if let ended {
                continuation.resume(throwing: Failure(description: ended))
                return
            }
            Task { [self] in
                do {
                    try await outbound.write(frame)
                } catch {
                    state.withLock { $0.pending.removeValue(forKey: id) }?.resume(throwing: error)
                }
            }
        }
        return (try JSONSerialization.jsonObject(with: result) as? [String: Any]) ?? [:]
    }
}
