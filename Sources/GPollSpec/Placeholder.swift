public enum GPollSpecPlaceholder {}
