import ArgumentParser
import GPollCluster
import GPollServer
import Logging

/// `--cluster`, `--node-name`, `--node-prefix`: this server as one node of a
/// cluster on PostgreSQL (GPollCluster). Without `--cluster` the server is alone
/// and needs no database.
struct ClusterOptions: ParsableArguments {
    @Option(name: .customLong("cluster"), help: ArgumentHelp(
        "Serve the endpoints as one node of a cluster whose bus is this PostgreSQL database (postgres://user[:password]@host[:port]/db).",
        valueName: "url"))
    var url: String?

    @Option(help: ArgumentHelp("With --cluster: this node's name, unique in the cluster.", valueName: "name"))
    var nodeName: String?

    @Option(help: ArgumentHelp("With --cluster: the routine id (the number before '$') of every id this node hands out; unique in the cluster, the proxy routes polls by it.", valueName: "n"))
    var nodePrefix: UInt32 = 0

    @Option(help: ArgumentHelp("With --cluster: keep a message row this many seconds after every live node applied it; a node away longer evicts its clients when it returns.", valueName: "seconds"))
    var clusterRetention: Double = 60

    var problems: [String] {
        guard let url else {
            return nodeName == nil ? [] : ["--node-name needs --cluster"]
        }
        var problems: [String] = []
        do { _ = try DatabaseAddress(url: url) } catch { problems.append(error.description) }
        if nodeName == nil { problems.append("--cluster needs --node-name") }
        if nodePrefix > 999_999_999 { problems.append("--node-prefix must have at most nine digits") }
        if !clusterRetention.isFinite || clusterRetention < 0 { problems.append("--cluster-retention must be 0 or more seconds") }
        return problems
    }

    /// The cluster node for these endpoints; nil without --cluster.
    func node(endpoints: [GPollEndpoint], logger: Logger) throws -> GPollClusterNode? {
        guard let url, let nodeName else { return nil }
        let configuration = GPollClusterConfiguration(
            database: try DatabaseAddress(url: url), nodeName: nodeName, nodePrefix: nodePrefix,
            retention: .nanoseconds(Int64((clusterRetention * 1e9).rounded())))
        return try GPollClusterNode(configuration: configuration, endpoints: endpoints, logger: logger)
    }
}
