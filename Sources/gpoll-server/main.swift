print("gpoll-server: not built yet")
