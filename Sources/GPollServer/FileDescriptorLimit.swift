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
}
