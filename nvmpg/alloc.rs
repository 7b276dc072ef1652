//! The nvm-pages allocator over a set of namespaces (to be written).
