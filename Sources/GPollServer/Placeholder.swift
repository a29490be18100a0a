enum GPollServerPlaceholder {}
