//! Host-only recording media and crash-state enumeration (to be written).
