//! Pure parsers for what members answer: four-letter words and Prometheus text.
//! No I/O here; `crate::io` fetches the text and these turn it into data.

pub mod fourlw;
pub mod prom;
