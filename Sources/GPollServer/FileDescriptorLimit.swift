#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every connection is a file descriptor, and the usual soft limit (1024) is far
/// below the 10,000 waiting polls a server should hold.
public enum FileDescriptorLimit {
    /// Raises the soft RLIMIT_NOFILE to the hard limit. Returns (old, new) soft limits, or nil if it could not be read or set.
    @discardableResult
    public static func raiseToHardLimit() -> (old: UInt64, new: UInt64)? {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return nil }
        let old = UInt64(limit.rlim_cur)
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            guard setrlimit(resource, &limit) == 0 else { return nil }
        }
        return (old, UInt64(limit.rlim_cur))
    }

    /// The soft RLIMIT_NOFILE now: the most descriptors this process may hold.
    public static func softLimit() -> UInt64? {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return nil }
        return UInt64(limit.rlim_cur)
    }

    /// How many descriptors this process holds (the entries of /proc/self/fd, less
    /// the one that reads them); nil where there is no /proc.
    static func openCount() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        // The name is read in place: readdir's records are only as long as their name,
        // so copying a whole `dirent` (`entry.pointee`) reads past the last record,
        // which crashed the server when that record ended at the end of a page.
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while let entry = readdir(directory) {
            let name = UnsafeRawPointer(entry).advanced(by: nameOffset).assumingMemoryBound(to: CChar.self)
            if strcmp(name, ".") != 0, strcmp(name, "..") != 0 { count += 1 }
        }
        return count - 1
    }

    /// Descriptors kept back from the client limit: listeners, the event loops'
    /// epoll and eventfd descriptors, standard streams, TLS files, admin connections.
    public static let reserve: UInt64 = 64

    /// The default client limit per endpoint: every live client may hold a waiting
    /// poll, which is a connection and so a descriptor. Past the descriptor limit
    /// accepts fail for everyone; below it a handshake gets 503 and Retry-After.
    public static func defaultClientLimit(endpoints: Int, softLimit: UInt64) -> Int {
        let usable = softLimit > reserve ? softLimit - reserve : 1
        return Int(clamping: max(1, usable / UInt64(max(1, endpoints))))
    }
}
