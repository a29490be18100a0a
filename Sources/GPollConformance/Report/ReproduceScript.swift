import Foundation
import GPollSpec
import GPollWire

/// `--reproduce DIR`: for each FAIL, WARN and FLAKY case, `DIR/<id with / as ->.sh`,
/// a bash script that replays the case's wire exchange from its transcript and
/// ends by printing what to look at (the requirement, expected against actual).
///
/// How the exchange becomes bash:
/// - A connection that carries one ordinary request (printable target, answered
///   before anything else is sent) is one `curl` command; so is each request on a
///   publish connection (its keep-alive reuse is the tester's economy, not part of
///   what a case checks).
/// - Every other connection (raw bytes, several requests, pipelining, a poll left
///   waiting while other connections act, a close by the tester) is a bash
///   `/dev/tcp` socket: `printf` writes the recorded bytes, `receive` reads one
///   response with the recorded wait.
/// - Client ids are read from the handshake answers at run time and substituted
///   wherever the recorded requests carried them (as `R$U`, `R%24U`, or U alone,
///   also upper-cased), never replayed stale; the server's host:port are variables
///   (`SERVER=... PUBLISH=... bash x.sh` replays against another server).
/// - Waits of the case (T, E, settle times) are kept as `sleep`s between sends.
/// - Publish headers (credentials) are not written: the script asks for them in
///   `PUBLISH_HEADER_1`... when the case published with them.
public enum ReproduceScript {
    /// Outcomes that get a script.
    static let replayed: Set<Outcome> = [.fail, .warn, .flaky]

    /// `handshake/002` → `handshake-002.sh`.
    static func fileName(for id: String) -> String {
        id.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? String($0) : "-" }.joined() + ".sh"
    }

    /// Writes one script per FAIL, WARN and FLAKY result; returns the paths written.
    @discardableResult
    public static func writeAll(results: [CaseResult], catalog: Catalog, settings: Settings, run: RunInfo,
                                directory: String) throws -> [String] {
        var written: [String] = []
        for result in results where replayed.contains(result.outcome) {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(fileName(for: result.id)).path
            try Data(script(for: result, catalog: catalog, settings: settings, run: run).utf8)
                .write(to: URL(fileURLWithPath: path), options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            written.append(path)
        }
        return written
    }

    /// The script for one case.
    public static func script(for result: CaseResult, catalog: Catalog, settings: Settings, run: RunInfo) -> String {
        var builder = Builder(result: result, settings: settings)
        builder.build()
        var lines: [String] = ["#!/usr/bin/env bash"]
        lines.append("# Replays gpoll-conform case \(result.id) \"\(oneLine(result.title))\", which was \(result.outcome.rawValue)")
        lines.append("# against \(oneLine(run.target)) (\(oneLine(run.spec)) \(oneLine(run.specVersion)), gpoll-conform \(run.toolVersion), \(ISO8601DateFormatter().string(from: run.started))).")
        for line in lookAt(result, catalog: catalog) { lines.append("#   " + oneLine(line)) }
        lines += [
            "#",
            "# Run it as is, or against another server:",
            "#   \(builder.variableOrder.map { "\($0)=host:port" }.joined(separator: " ")) bash \(fileName(for: result.id))",
            "# Client ids come from the handshake answers of this run; paths, messages and",
            "# raw bytes are replayed as recorded. Needs bash (for /dev/tcp) and curl.",
            "set -u",
            "export LC_ALL=C",
        ]
        for name in builder.variableOrder {
            let (value, url) = builder.variables[name]!
            lines.append("\(name)=${\(name):-\(value)}    # \(oneLine(url))")
        }
        for (index, _) in builder.publishHeaderNames.enumerated() {
            let name = builder.publishHeaderNames[index]
            lines.append(": \"${PUBLISH_HEADER_\(index + 1):?set PUBLISH_HEADER_\(index + 1) to the publish header '\(name): ...' (its value is not written into this script)}\"")
        }
        lines.append(helpers)
        lines.append("# --- the exchange, as the case ran it")
        lines += builder.lines
        lines.append("")
        lines.append("# --- what gpoll-conform saw")
        let delimiter = "GPOLL_CONFORM_FINDING"
        lines.append("echo")
        lines.append("cat <<'\(delimiter)'")
        lines.append("=== \(result.id) \(oneLine(result.title)): \(result.outcome.rawValue)" + (result.runs.map { " (\($0.description))" } ?? ""))
        for line in lookAt(result, catalog: catalog) where line != delimiter { lines.append(line) }
        lines.append("Compare with the answers above.")
        lines.append(delimiter)
        return lines.joined(separator: "\n") + "\n"
    }

    /// The requirement texts, expected and actual, reason: what to look at.
    static func lookAt(_ result: CaseResult, catalog: Catalog) -> [String] {
        var lines: [String] = []
        if let finding = result.finding {
            if let id = finding.requirement {
                let text = catalog.requirement(id).map { "\($0.level.rawValue): \($0.text)" } ?? finding.level.rawValue
                lines.append("[\(id)] \(oneLine(text))")
            }
            lines.append("expected: \(oneLine(finding.expected))")
            lines.append("actual:   \(oneLine(finding.actual))")
        }
        if let reason = result.reason { lines.append("reason:   \(oneLine(reason))") }
        return lines
    }

    /// Text for a comment or heredoc line: no line breaks, no control characters.
    static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }

    /// Single-quoted for bash: `it's` → `'it'\''s'`.
    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    // MARK: Translation

    /// One piece of bytes to send: recorded bytes, a run-time value, or a long run of one byte.
    enum Piece: Equatable {
        case literal([UInt8])
        case value(String)  // a bash expression, e.g. `${ID1}`
        case run(UInt8, Int)
    }

    struct Builder {
        let result: CaseResult
        let settings: Settings
        var lines: [String] = []
        /// host:port variables: name → (recorded value, the URL it came from).
        var variables: [String: (String, String)] = [:]
        var variableOrder: [String] = []
        var variableOfHostPort: [String: String] = [:]
        var publishHeaderNames: [String] = []
        /// (recorded text, bash expression), longest first.
        var substitutions: [([UInt8], String)] = []
        var idCount = 0
        /// Milliseconds of the recording the script has accounted for (sent, waited for).
        var clock = 0

        init(result: CaseResult, settings: Settings) {
            self.result = result
            self.settings = settings
            let roles: [(Endpoint?, String)] = [(settings.pollURL, "SERVER"), (settings.publishURL, "PUBLISH"),
                                                (settings.secondEndpoint, "SERVER2"), (settings.secondPublishURL, "PUBLISH2")]
            for (endpoint, name) in roles {
                guard let endpoint else { continue }
                _ = variable(for: endpoint, preferred: name)
            }
        }

        var publishURLs: Set<String> { Set([settings.publishURL, settings.secondPublishURL].compactMap { $0?.url }) }

        mutating func variable(for endpoint: Endpoint, preferred: String? = nil) -> String {
            let hostPort = "\(endpoint.host):\(endpoint.port)"
            if let name = variableOfHostPort[hostPort] { return name }
            let name = preferred ?? "HOST\(variableOrder.count + 1)"
            variableOfHostPort[hostPort] = name
            variables[name] = (hostPort, endpoint.url)
            variableOrder.append(name)
            substitutions.append((Array(endpoint.hostHeader.utf8), "${\(name)}"))
            if endpoint.hostHeader != hostPort { substitutions.append((Array(hostPort.utf8), "${\(name)}")) }
            substitutions.sort { $0.0.count > $1.0.count }
            return name
        }

        /// How each connection is replayed.
        enum Mode { case curl, tcp }

        func modes(_ entries: [Transcript.Entry]) -> [String: Mode] {
            var modes: [String: Mode] = [:]
            let labels = Set(entries.filter { $0.connection != "--" }.map(\.connection))
            for label in labels {
                let own = entries.enumerated().filter { $0.element.connection == label }
                let sends = own.filter { $0.element.direction == ">" }
                guard !sends.isEmpty, sends.allSatisfy({ $0.element.sent.map(Self.curlCanSay) ?? false }) else {
                    modes[label] = .tcp
                    continue
                }
                let isPublish = sends.allSatisfy { publishURLs.contains($0.element.sent!.endpoint) }
                guard isPublish || sends.count == 1 else {
                    modes[label] = .tcp
                    continue
                }
                // Request, answer, request, answer... (then the tester's close): each request
                // answered (or its connection ended by the server) before any other connection
                // sends or closes, since a curl command runs to its end, and nothing awaited after.
                let steps = own.filter { !Self.isTesterClose($0.element) }
                var curlable = steps.count == 2 * sends.count
                for pair in stride(from: 0, to: curlable ? steps.count : 0, by: 2) {
                    let (send, answer) = (steps[pair], steps[pair + 1])
                    guard send.element.direction == ">", Self.isAnswer(answer.element) else {
                        curlable = false
                        break
                    }
                    let between = entries[(send.offset + 1)..<answer.offset]
                    if between.contains(where: { $0.connection != label && $0.connection != "--" && ($0.direction == ">" || Self.isTesterClose($0)) }) {
                        curlable = false
                    }
                }
                modes[label] = curlable ? .curl : .tcp
            }
            return modes
        }

        /// A response, or the end of the connection by the server, as recorded.
        static func isAnswer(_ entry: Transcript.Entry) -> Bool {
            entry.direction == "<" || entry.text == "connection closed by the server" || entry.text.hasPrefix("malformed response")
        }

        static func isTesterClose(_ entry: Transcript.Entry) -> Bool {
            entry.direction == "*" && (entry.text == "closing (FIN)" || entry.text == "aborting (RST)")
        }

        /// Whether a plain curl command sends what was recorded: a structured request
        /// whose target curl takes as is.
        static func curlCanSay(_ sent: Transcript.Sent) -> Bool {
            guard let method = sent.method else { return false }
            let tokenOK = method.allSatisfy { $0.isLetter && $0.isASCII }
            let targetOK = !sent.target.isEmpty && sent.target.first == UInt8(ascii: "/")
                && sent.target.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }
            let headersOK = sent.headers.allSatisfy { header in
                !["host", "content-length", "transfer-encoding", "connection", "expect"].contains(header.name.lowercased())
            }
            return tokenOK && targetOK && headersOK
        }

        mutating func build() {
            let entries = result.transcript
            let modes = modes(entries)
            var opened = Set<String>(), closed = Set<String>()
            var pendingMethods: [String: [String]] = [:]
            var answeredByCurl = Set<Int>()
            var lastOnConnection: [String: Int] = [:]

            for (index, entry) in entries.enumerated() {
                defer { lastOnConnection[entry.connection] = entry.milliseconds }
                if answeredByCurl.contains(index) { continue }
                if entry.connection == "--" {
                    if entry.direction == "*" { lines.append("note \(quoted(oneLine(entry.text)))") }
                    continue
                }
                let label = entry.connection
                switch entry.direction {
                case ">":
                    guard let sent = entry.sent else {
                        lines.append("# \(label): not recorded in full, cannot replay: \(oneLine(entry.text))")
                        continue
                    }
                    pause(until: entry.milliseconds)
                    guard let endpoint = try? Endpoint(sent.endpoint) else { continue }
                    let hostVariable = variable(for: endpoint)
                    if modes[label] == .curl {
                        let answer = entries.indices.first { $0 > index && entries[$0].connection == label }
                        if let answer { answeredByCurl.insert(answer) }
                        let waited = answer.map { entries[$0].milliseconds - entry.milliseconds } ?? 0
                        curl(sent, label: label, host: hostVariable, maxTime: Double(waited) / 1000 + 5,
                             answer: answer.map { entries[$0] })
                        clock = max(clock, answer.map { entries[$0].milliseconds } ?? entry.milliseconds)
                    } else {
                        if !opened.contains(label) {
                            opened.insert(label)
                            lines.append("open_tcp \(label) \"$\(hostVariable)\"")
                        }
                        send(sent, label: label)
                        pendingMethods[label, default: []].append(sent.method ?? Self.method(ofRaw: sent.bytes))
                        clock = max(clock, entry.milliseconds)
                    }
                case "<":
                    let waited = entry.milliseconds - (lastOnConnection[label] ?? entry.milliseconds)
                    let method = pendingMethods[label]?.isEmpty == false ? pendingMethods[label]!.removeFirst() : "GET"
                    lines.append("receive \(label) \(seconds(waited + 5000))\(method == "HEAD" ? " HEAD" : "")")
                    learnID(from: entry.text, file: "$WORK/body")
                    clock = max(clock, entry.milliseconds)
                default:
                    if Self.isTesterClose(entry) {
                        // A curl command closes its own connection when it ends.
                        guard modes[label] == .tcp, opened.contains(label), closed.insert(label).inserted else { continue }
                        pause(until: entry.milliseconds)
                        lines.append(entry.text == "aborting (RST)"
                                     ? "close_tcp \(label)    # the tester reset it (RST); bash can only close (FIN)"
                                     : "close_tcp \(label)")
                    } else if entry.text == "no response yet" {
                        let waited = entry.milliseconds - (lastOnConnection[label] ?? entry.milliseconds)
                        lines.append("receive \(label) \(seconds(max(waited, 100)))    # the tester saw nothing in this time")
                        clock = max(clock, entry.milliseconds)
                    } else if entry.text == "connection closed by the server" || entry.text.hasPrefix("malformed response") {
                        let waited = entry.milliseconds - (lastOnConnection[label] ?? entry.milliseconds)
                        lines.append("receive \(label) \(seconds(waited + 5000))    # recorded: \(oneLine(entry.text))")
                        clock = max(clock, entry.milliseconds)
                    } else {
                        lines.append("# \(label): \(oneLine(entry.text))")
                    }
                }
            }
        }

        /// A `sleep` when the case waited before its next step (T, E, a settle time).
        mutating func pause(until milliseconds: Int) {
            let gap = milliseconds - clock
            if gap >= 200 { lines.append("sleep \(seconds(gap))") }
            clock = max(clock, milliseconds)
        }

        func seconds(_ milliseconds: Int) -> String {
            String(format: "%.1f", Double(max(milliseconds, 0)) / 1000)
        }

        /// The method a raw request will be answered as (a HEAD answer has no body).
        static func method(ofRaw bytes: [UInt8]) -> String {
            bytes.starts(with: Array("HEAD ".utf8)) ? "HEAD" : "GET"
        }

        /// A handshake answer in the transcript: read its id at run time from `file`.
        mutating func learnID(from text: String, file: String) {
            guard let id = Self.clientID(in: text), let dollar = id.firstIndex(of: "$") else { return }
            // Written into the script (as the fallback value): only characters that
            // mean nothing to bash inside double quotes but the `$` it escapes.
            guard id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "$-_.".contains($0)) }) else { return }
            if substitutions.contains(where: { $0.0 == Array(id.utf8) }) { return }
            idCount += 1
            let name = "ID\(idCount)", uuid = "U\(idCount)"
            let routine = String(id[..<dollar]), uuidText = String(id[id.index(after: dollar)...])
            lines.append("\(name)=$(client_id \"\(file)\"); : \"${\(name):=\(id.replacingOccurrences(of: "$", with: "\\$"))}\"; \(uuid)=${\(name)#*\\$}    # the id this server gave")
            var forms: [([UInt8], String)] = [(Array(id.utf8), "${\(name)}"),
                                              (Array("\(routine)%24\(uuidText)".utf8), "${\(name)%%\\$*}%24${\(uuid)}")]
            if uuidText.count >= 8 {
                forms.append((Array(uuidText.utf8), "${\(uuid)}"))
                if uuidText.uppercased() != uuidText { forms.append((Array(uuidText.uppercased().utf8), "${\(uuid)^^}")) }
            }
            substitutions += forms
            substitutions.sort { $0.0.count > $1.0.count }
        }

        /// The client-id of a handshake body in a transcript text, as recorded (escaped
        /// text keeps `"` and `$` as they are).
        static func clientID(in text: String) -> String? {
            guard let range = text.range(of: "\"client-id\":\"") else { return nil }
            let rest = text[range.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { return nil }
            let id = String(rest[..<end])
            return id.contains("$") && !id.contains("\\") ? id : nil
        }

        /// The bytes cut into literal runs and run-time values.
        func pieces(_ bytes: [UInt8]) -> [Piece] {
            var out: [Piece] = []
            var literal: [UInt8] = []
            var i = 0
            func flush() { if !literal.isEmpty { out.append(.literal(literal)); literal = [] } }
            while i < bytes.count {
                if let (pattern, expression) = substitutions.first(where: { bytes[i...].starts(with: $0.0) }) {
                    flush()
                    out.append(.value(expression))
                    i += pattern.count
                    continue
                }
                var run = 1
                while i + run < bytes.count && bytes[i + run] == bytes[i] { run += 1 }
                if run >= 64 {
                    flush()
                    out.append(.run(bytes[i], run))
                    i += run
                    continue
                }
                literal.append(bytes[i])
                i += 1
            }
            flush()
            return out
        }

        /// A printf format for literal bytes: `%` doubled, `\` doubled, controls as
        /// `\r`, `\n`, `\xHH`; inside single quotes.
        static func format(_ bytes: [UInt8]) -> String {
            var out = ""
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "%"): out += "%%"
                case UInt8(ascii: "\\"): out += "\\\\"
                case UInt8(ascii: "'"): out += "'\\''"
                case 0x0D: out += "\\r"
                case 0x0A: out += "\\n"
                case 0x09: out += "\\t"
                case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(byte))
                default: out += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
                }
            }
            return out
        }

        /// Groups pieces into `send` and `send_repeat` calls for a /dev/tcp connection.
        mutating func send(_ sent: Transcript.Sent, label: String) {
            var format = "", arguments: [String] = []
            func flush() {
                guard !format.isEmpty else { return }
                lines.append("send \(label) '\(format)'" + arguments.map { " \"\($0)\"" }.joined())
                format = ""
                arguments = []
            }
            for piece in pieces(sent.bytes) {
                switch piece {
                case .literal(let bytes): format += Self.format(bytes)
                case .value(let expression): format += "%s"; arguments.append(expression)
                case .run(let byte, let count):
                    flush()
                    lines.append("send_repeat \(label) \(String(byte, radix: 8).leftPadded(to: 3)) \(count)")
                }
            }
            flush()
        }

        /// Text inside double quotes, with run-time values as expansions.
        func doubleQuoted(_ bytes: [UInt8]) -> String {
            var out = "\""
            for piece in pieces(bytes) {
                switch piece {
                case .value(let expression): out += expression
                case .literal(let literal):
                    for byte in literal {
                        let character = Character(Unicode.Scalar(byte))
                        if "\\\"$`".contains(character) { out += "\\" }
                        out.append(character)
                    }
                case .run(let byte, let count):
                    out += "$(head -c \(count) /dev/zero | tr '\\0' '\\\(String(byte, radix: 8).leftPadded(to: 3))')"
                }
            }
            return out + "\""
        }

        mutating func curl(_ sent: Transcript.Sent, label: String, host: String, maxTime: Double,
                           answer: Transcript.Entry?) {
            let method = sent.method ?? "GET"
            var command = "curl -sS -i --globoff --path-as-is --max-time \(String(format: "%.0f", maxTime.rounded(.up)))"
            if method == "HEAD" { command += " --head" } else if method != "GET" && !(method == "POST" && !sent.body.isEmpty) {
                command += " -X \(method)"
            }
            var input: String?
            for header in sent.headers {
                if let index = settings.publishHeaders.firstIndex(where: { $0.0 == header.name && $0.1 == header.value }) {
                    while publishHeaderNames.count <= index { publishHeaderNames.append(settings.publishHeaders[publishHeaderNames.count].0) }
                    command += " -H \"$PUBLISH_HEADER_\(index + 1)\""
                } else {
                    command += " -H " + ReproduceScript.quoted("\(header.name): \(header.value)")
                }
            }
            if !sent.body.isEmpty || method == "POST" || method == "PUT" {
                // curl would add a form Content-Type; the tester sent none unless the case did.
                if !sent.headers.contains(where: { $0.name.lowercased() == "content-type" }) { command += " -H 'Content-Type:'" }
                command += " -H 'Expect:' --data-binary @-"
                input = "printf -- '\(Self.format(sent.body))'"
                if sent.body.count > 256 && Set(sent.body).count == 1 {
                    input = "head -c \(sent.body.count) /dev/zero | tr '\\0' '\\\(String(sent.body[0], radix: 8).leftPadded(to: 3))'"
                }
            }
            let scheme = sent.endpoint.lowercased().hasPrefix("https") ? "https" : "http"
            command += " \"\(scheme)://${\(host)}" + doubleQuoted(sent.target).dropFirst()
            command += " -o \"$WORK/\(label)\" 2>&1 || curl_failed $?"
            if let input { command = "\(input) | \(command)" }
            let requestLine = Array(sent.bytes.prefix(while: { $0 != 0x0D && $0 != 0x0A }).prefix(300))
            lines.append("echo \"> \(label) " + doubleQuoted(requestLine).dropFirst())
            lines.append(command)
            lines.append("show \(label)")
            if let answer, answer.direction == "<" { learnID(from: answer.text, file: "$WORK/\(label)") }
        }
    }

    /// The functions every script uses, kept short and commented so that the exchange
    /// below them reads as the wire did.
    static let helpers = #"""
        WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
        trap '' PIPE    # a write to a connection the server closed fails; it must not end the script

        note() { printf '* %s\n' "$*"; }
        # Prints bytes readably: a prefix per line, controls shown as ^X.
        show_bytes() { head -c 2000 | tr -d '\r' | cat -v | sed "s|^|$1|"; echo; }
        # A curl answer saved in $WORK/<connection>.
        show() { if [ -s "$WORK/$1" ]; then show_bytes "< $1 " < "$WORK/$1"; fi; }
        curl_failed() {
          case $1 in 28) echo "* no answer in time (curl timed out)";; 52) echo "* the server closed the connection without an answer";;
                     56) echo "* the connection was reset or closed while receiving";; *) echo "* curl failed with exit code $1";; esac
        }
        # The client-id of a handshake answer in a file.
        client_id() { sed -n 's/.*"client-id" *: *"\([^"]*\)".*/\1/p' "$1" 2>/dev/null | head -n 1; }
        # A raw connection: open_tcp <name> <host:port>; its file descriptor is in $<name>.
        open_tcp() { local fd; exec {fd}<>"/dev/tcp/${2%:*}/${2##*:}" || { echo "cannot connect to $2"; exit 1; }; printf -v "$1" %s "$fd"; }
        close_tcp() { eval "exec ${!1}>&-"; echo "* $1 closed (by this script)"; }
        # send <name> <printf format> [values]: writes the bytes, then shows them.
        send() { local name=$1; shift; printf -- "$@" >&"${!name}" 2>/dev/null || echo "* $name: write failed (closed by the server?)"; printf -- "$@" | show_bytes "> $name "; }
        # send_repeat <name> <octal byte> <count>: a long run of one byte.
        send_repeat() { head -c "$3" /dev/zero | tr '\0' "\\$2" >&"${!1}" 2>/dev/null; echo "> $1 ($3 bytes \\$2)"; }
        # receive <name> <seconds> [HEAD]: reads one response; its body goes to $WORK/body.
        receive() {
          local name=$1 fd=${!1} wait=$2 line length="" chunked="" status rc size
          : > "$WORK/body"
          IFS= read -r -t "$wait" -u "$fd" line; rc=$?
          if [ $rc -gt 128 ]; then echo "< $name (nothing within $wait s)"; return; fi
          if [ $rc -ne 0 ] && [ -z "$line" ]; then echo "< $name (the server closed the connection)"; return; fi
          line=${line%$'\r'}; echo "< $name $line"; status=$(echo "$line" | cut -d' ' -f2)
          while IFS= read -r -t 5 -u "$fd" line; do
            line=${line%$'\r'}; echo "< $name $line"; [ -z "$line" ] && break
            case ${line,,} in content-length:*) length=${line#*:}; length=${length//[!0-9]/};; transfer-encoding:*chunked*) chunked=1;; esac
          done
          if [ "${3:-}" = HEAD ] || [ "$status" = 204 ] || [ "$status" = 304 ]; then return; fi
          if [ -n "$chunked" ]; then
            while IFS= read -r -t 5 -u "$fd" size; do
              size=$((16#${size%%[;$'\r']*})); [ "$size" -eq 0 ] && { read -r -t 1 -u "$fd" line; break; }
              timeout "$wait" head -c "$size" <&"$fd" >> "$WORK/body"; read -r -t 1 -u "$fd" line
            done
          elif [ -n "$length" ]; then timeout "$wait" head -c "$length" <&"$fd" > "$WORK/body"
          else timeout 2 cat <&"$fd" > "$WORK/body"; fi
          show_bytes "< $name " < "$WORK/body"
        }

        """#
}
