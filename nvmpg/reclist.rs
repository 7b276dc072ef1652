//! On-media allocation lists (to be written).
