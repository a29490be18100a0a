/// Deliberate deviations from Spec that ``FakeGPollServer`` can be built with: each
/// one is a bug a real implementation could have (several are the original's).
enum FakeDefect: String, CaseIterable, Sendable {
    // Transport
    case rejectsGET, headConsumes, bodyOverridesQuery, noCacheControl
    // Parameter
    case noPercentDecoding, crashOnBadEscape, badEscape404, rejectsNonUTF8, lengthInCharacters
    case lastClientIDWins, caseInsensitiveName
    // Handshake and ids
    case requiresClientID, handshakeNotJSON, dollarShortIsPoll, handshakeAtTenBytes, sameIDPerConnection
    case textPlainHandshake, prettyHandshake, nonV4UUIDs, counterUUIDs, lateRegistration
    // Poll and 404
    case immediate204, batchesMessages, noDollarHandshake, noNotFound, acceptsUppercaseUUID, ignoresRoutine
    case sharedEndpoints, evictionKeepsID, notFoundDisturbs, lenientIDs
    // Buffer and delivery
    case evictAtB, neverEvicts, waitingPollsIgnored, duplicateDelivery, dedupesEqualMessages
    case deliversPreRegistrationMessages, broadcastsToFirst10, empty204, truncatesLargeMessages, textMessages, reorders
    // Concurrency, timeout, disconnect
    case fanOutToPolls, oldestPollWins, noTimeout, timeoutLosesNext, lossOnDisconnect, evictOnDisconnect
    // Limits
    case noIdleExpiry, expiresWhilePolling, shortTargetLimit, no414, no400, badInputKillsAll, no503, limitBreaksLive
    // Security and harness
    case leaksIDs, publishViaPoll, publishIgnoresToken, asyncPublish, publishToAllEndpoints, formDecodesPublishBody
    case plainHTTPBeyondLoopback
    // Stress tier
    /// Every 200th handshake is answered 200 but its client never becomes live (the
    /// original loses about 0.5% of clients under concurrent handshakes).
    case losesRegistrations
    /// Clients from the 1,001st on (another routine of the original's) get each two
    /// messages in swapped order, as the original's unsynchronised routines can.
    case shardsReorder
    // gpoll/1.1 cases in the sections of gpoll/1: HEAD, request bodies, response headers
    case headWithoutAllow, rejectsChunkedBody, bigBody500, noCacheControlOnErrors, noNosniff, sniffsContentType
    case gzipsUnasked, honoursRange
    // ... the client-id parameter, delivery and limits
    case badEscapeItemSkipped, fanOutRaces, lateSubscription, controlWords, crashesOnQuit, blocksOnSlowHeaders
    // gpoll/1.1: advertised settings, acknowledged delivery, reasons
    case advertisesWrongBuffer, advertisesWrongTypes, advertisesWrongTimeout
    case noSequenceHeader, sequenceFromZero, ackLosesUnacknowledged, staleAckRewinds
    case unacknowledgedNotCounted, plainPollKeepsUnacknowledged, acceptsBadAck, reasonsByUUID
    // Intermittent (for --repeat and FLAKY; not in DefectTable, whose defects fail every run)
    /// Every second handshake of an endpoint answers the bare id instead of JSON (HS-1).
    case everyOtherHandshakeNotJSON
    // gpoll/1.1, the lead's
    /// The handshake object names `client-id` twice (a parser keeps one of the two ids).
    case twoClientIDMembers
}
