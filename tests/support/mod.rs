pub mod dns;
pub mod prom;
pub mod registrar;
