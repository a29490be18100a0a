print("gpoll-conform: not built yet")
