//! Entra-side management at the operator's desk: a user's keys and passes, deleting a
//! method, re-imaging a returned key. Every side effect is recorded in the journal first.
pub mod users;
pub mod operation;
pub mod methods;
pub mod reimage;
