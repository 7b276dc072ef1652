//! On-media format of nvm-pages (to be written).
