// Placeholder until the JUnit writer lands; replaced by the JUnit work.
enum JUnitXMLPlaceholder {}
