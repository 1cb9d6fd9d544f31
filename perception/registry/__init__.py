"""Model artifacts (signed, versioned) and the registry of active/shadow versions."""
