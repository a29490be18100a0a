/// # GPollCluster: several gpoll-server nodes serving the same endpoints
///
/// The bus is PostgreSQL, reached through postgres-nio; there is no cluster
/// protocol of our own. The design, in the order a message travels:
///
/// **Messages are rows.** `gpoll_messages(endpoint, seq, payload bytea)` holds
/// every published message; `gpoll_endpoints(endpoint, last_seq)` hands out the
/// per-endpoint sequence. A publish is one statement: it bumps `last_seq` (taking
/// that row's lock until commit, so publishes to one endpoint commit in `seq`
/// order and a reader never sees seq n+1 before n), inserts the row, and
/// `pg_notify`s the channel `gpoll_cluster`. Every node thus sees one total
/// order per endpoint, the same on every node.
///
/// **NOTIFY only wakes.** Each node remembers, per endpoint, the last `seq` it
/// applied; woken by a notification, by its own publish, or by a fallback poll
/// every second, it reads the rows after that `seq` in order and offers each to
/// its local ``GPollServer/GPollEndpoint`` (``GPollEndpoint/send(_:)-(ByteBuffer)``).
/// A dropped LISTEN connection therefore loses nothing: the next read catches up.
///
/// **Nodes record what they applied.** `gpoll_nodes(name, prefix, heartbeat)`
/// says who is alive (a heartbeat every second); `gpoll_applied(node, endpoint,
/// seq)` what each has offered to its clients. A publish on any node's admin
/// listener (``GPollAdminPublisher``) inserts the row and is answered once every
/// live node (heartbeat within the liveness window, 3 s) has applied its `seq`:
/// the harness interface of the Spec holds across the cluster (a publish's 2xx
/// means every client of every live node was offered the message). A node that
/// stopped heartbeating is not waited for.
///
/// **The id's prefix names the node.** Every client of a node gets the node's
/// routine id (`R` in `R$uuid`, ``GPollCore/BroadcasterConfiguration/nodeRoutine``),
/// so a proxy routes a poll by the prefix alone; a handshake may go to any node.
/// Another node's prefix on this node is just an unknown id: 404 (NF-3). A node
/// that dies takes its clients with it: the proxy answers their polls 404 (no
/// upstream for that prefix) and they register again on another node.
///
/// **Losing the database.** A node that cannot reach PostgreSQL logs it, reports
/// ``GPollClusterNode/isDatabaseReachable`` false (for a health check), keeps
/// serving its clients what they already have, and reconnects every second. When
/// it returns it catches up in order from its last applied `seq`; if the rows it
/// needs were pruned meanwhile (it was away longer than the retention), it evicts
/// its clients, who register again, rather than let them miss messages silently.
/// A database that freezes (connections open, no answers) is lost too: every
/// database call runs under ``GPollClusterConfiguration/queryTimeout``, after
/// which its connection is closed and the next call connects anew, and the LISTEN
/// connection is asked `SELECT 1` every heartbeat under the same limit. A publish
/// is answered by ``GPollClusterConfiguration/publishTimeout`` whatever the database does.
///
/// **TLS.** libpq's `sslmode` (`disable`, the default, `prefer`, `require`,
/// `verify-full`) and `sslrootcert` in the URL (``DatabaseAddress``).
///
/// **Pruning.** A row is deleted once every live node has applied it and it is
/// older than the retention (60 s): a node that loses the database for less than
/// that catches up.
///
/// The tables are created (`IF NOT EXISTS`) by the first node that starts.
public enum GPollCluster {
    /// The LISTEN/NOTIFY channel: payload `message` (a row was inserted) or `applied` (a node applied rows).
    static let channel = "gpoll_cluster"

    /// The schema, idempotent, run by every node at start.
    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS gpoll_endpoints (
            endpoint text PRIMARY KEY,
            last_seq bigint NOT NULL DEFAULT 0)
        """,
        """
        CREATE TABLE IF NOT EXISTS gpoll_messages (
            endpoint text NOT NULL,
            seq bigint NOT NULL,
            payload bytea NOT NULL,
            published_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (endpoint, seq))
        """,
        """
        CREATE TABLE IF NOT EXISTS gpoll_nodes (
            name text PRIMARY KEY,
            prefix bigint NOT NULL,
            heartbeat timestamptz NOT NULL DEFAULT now())
        """,
        """
        CREATE TABLE IF NOT EXISTS gpoll_applied (
            node text NOT NULL,
            endpoint text NOT NULL,
            seq bigint NOT NULL,
            PRIMARY KEY (node, endpoint))
        """,
    ]
}
