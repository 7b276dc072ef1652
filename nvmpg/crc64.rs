//! bcache's crc64 (to be written).
