//! troupe
