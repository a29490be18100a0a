enum GPollConformancePlaceholder {}
