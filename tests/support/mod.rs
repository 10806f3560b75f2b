pub mod registrar;
