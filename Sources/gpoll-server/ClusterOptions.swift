import ArgumentParser
import Configuration
import GPollCluster
import GPollServer

/// `--cluster`, `--node-name`, `--node-prefix`, `--cluster-retention`,
/// `--cluster-query-timeout`: this server as one node of a cluster on PostgreSQL
/// (GPollCluster). Without `--cluster` the server is alone and needs no database.
/// Like every setting they are also environment variables and settings-file keys
/// (``GPollServerSettings``), which checks them; the database URL's own grammar
/// is GPollCluster's (``DatabaseAddress``).
struct ClusterOptions: ParsableArguments {
    typealias Settings = GPollServerSettings

    @Option(name: .customLong(Settings.cluster.name), help: ArgumentHelp(Settings.cluster.help, valueName: "url"))
    var url: String?

    @Option(name: .customLong(Settings.nodeName.name), help: ArgumentHelp(Settings.nodeName.help, valueName: "name"))
    var nodeName: String?

    @Option(name: .customLong(Settings.nodePrefix.name), help: ArgumentHelp(Settings.nodePrefix.help, valueName: "n"))
    var nodePrefix: Int?

    @Option(name: .customLong(Settings.clusterRetention.name), help: ArgumentHelp(Settings.clusterRetention.help, valueName: "seconds"))
    var clusterRetention: Double?

    @Option(name: .customLong(Settings.clusterQueryTimeout.name), help: ArgumentHelp(Settings.clusterQueryTimeout.help, valueName: "seconds"))
    var clusterQueryTimeout: Double?

    /// What the command line gave; the environment and the file fill in the rest.
    var flags: [Settings.Setting: ConfigValue] {
        var flags: [Settings.Setting: ConfigValue] = [:]
        if let url { flags[Settings.cluster] = ConfigValue(.string(url), isSecret: true) }
        if let nodeName { flags[Settings.nodeName] = ConfigValue(.string(nodeName), isSecret: false) }
        if let nodePrefix { flags[Settings.nodePrefix] = ConfigValue(.int(nodePrefix), isSecret: false) }
        if let clusterRetention { flags[Settings.clusterRetention] = ConfigValue(.double(clusterRetention), isSecret: false) }
        if let clusterQueryTimeout { flags[Settings.clusterQueryTimeout] = ConfigValue(.double(clusterQueryTimeout), isSecret: false) }
        return flags
    }

    /// The node's configuration; throws when the database URL does not parse.
    static func configuration(_ cluster: GPollServerSettings.Cluster) throws(DatabaseAddressError) -> GPollClusterConfiguration {
        GPollClusterConfiguration(database: try DatabaseAddress(url: cluster.url), nodeName: cluster.nodeName,
                                  nodePrefix: cluster.nodePrefix, retention: cluster.retention, queryTimeout: cluster.queryTimeout)
    }
}
