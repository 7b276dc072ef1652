//! Growable sequences for pure code (to be written).
