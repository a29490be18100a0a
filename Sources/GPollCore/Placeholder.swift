public enum GPollCorePlaceholder {}
