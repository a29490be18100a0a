/// Every case this build can run, by catalog id. The consistency test checks that
/// these ids are exactly the catalog's non-retired cases.
public enum CaseRegistry {
    public static let all: [ConformanceCase] =
        TransportCases.all + ParamCases.all + HandshakeCases.all + GrammarCases.all + PollCases.all
        + NotFoundCases.all + BufferCases.all + DeliveryCases.all + ConcurrentCases.all + TimeoutCases.all
        + DisconnectCases.all + LimitsCases.all + SecurityCases.all + HarnessCases.all
        + StressCases.all
        // gpoll/1.1 cases in the sections of gpoll/1
        + TransportCases.gpoll11 + ParamCases.gpoll11 + DeliveryCases.gpoll11 + LimitsCases.gpoll11
        // gpoll/1.1 sections
        + AdvertiseCases.all + AckCases.all

    public static var ids: [String] { all.map(\.id) }
}
