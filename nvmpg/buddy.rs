//! Buddy allocator over free page ranges (to be written).
