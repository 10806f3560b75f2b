pub mod dns;
pub mod registrar;
