import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole writes to a file descriptor with write(2), unbuffered: each line reaches a
/// pipe as soon as it is written (the line protocol requires a flush after each).
enum StandardStream {
    /// Writes all of `bytes`; false when the reader has gone (EPIPE) or another error stops it.
    @discardableResult
    static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }
}

enum StandardOutput {
    /// False when standard output is closed (such as `gpoll listen | head -1` after its line).
    static func write(_ bytes: [UInt8]) -> Bool { StandardStream.writeAll(bytes, to: STDOUT_FILENO) }
}

enum StandardError {
    static func write(_ text: String) { StandardStream.writeAll(Array(text.utf8), to: STDERR_FILENO) }
}
