import Foundation

/// Reads a server's CPU time and memory from Linux's /proc, for a server process
/// given by pid together with its children (nginx's workers are children of its
/// master; a gpoll-server is one process with threads). The bench reads it at the
/// edges of its own phases, so the figures cover exactly what it measured.
struct ServerProcessProbe: Sendable {
    let pid: Int32

    /// utime + stime of the process and its living children, in seconds.
    func cpuSeconds() -> Double? {
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        var ticks: UInt64 = 0
        var found = false
        for member in processTree() {
            // stat(5): utime and stime are fields 14 and 15, here 11 and 12.
            guard let fields = Self.statFields(of: member), fields.count > 12,
                  let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { continue }
            ticks += user + system
            found = true
        }
        return found ? Double(ticks) / ticksPerSecond : nil
    }

    /// Proportional set size (Pss) of the process and its children in kB: memory
    /// shared between nginx's workers counts once, not once per worker; for a
    /// single process it is its resident memory less what other processes share.
    func memoryKB() -> Int? {
        var total = 0
        var found = false
        for member in processTree() {
            guard let text = try? String(contentsOfFile: "/proc/\(member)/smaps_rollup", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("Pss:") {
                let number = line.dropFirst(4).split(separator: " ").first.flatMap { Int($0) }
                if let number { total += number; found = true }
            }
        }
        return found ? total : nil
    }

    /// Busy CPU seconds of the whole machine (every core, from /proc/stat: all
    /// but idle and iowait), to tell how much else ran while the bench measured.
    static func machineBusySeconds() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard values.count >= 5 else { return nil }
        // user nice system idle iowait irq softirq steal (guest is inside user already).
        let busy = values.prefix(8).enumerated().reduce(UInt64(0)) { $0 + ($1.offset == 3 || $1.offset == 4 ? 0 : $1.element) }
        return Double(busy) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// This process's own CPU time (user + system), in seconds.
    static func ownCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// The pid and its direct children (nginx: master and workers).
    private func processTree() -> [Int32] {
        var members = [pid]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let candidate = Int32(entry), candidate != pid,
                  let fields = Self.statFields(of: candidate), fields.count > 1, fields[1] == String(pid)
            else { continue }
            members.append(candidate)
        }
        return members
    }

    /// The fields of /proc/PID/stat after the command name (state, field 3 of stat(5), is 0 here),
    /// which is in parentheses and may itself hold spaces.
    private static func statFields(of pid: Int32) -> [String]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ").map(String.init)
    }
}
