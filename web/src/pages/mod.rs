//! One module per page of the console.

pub mod account;
pub mod audit;
pub mod budgets;
pub mod explorer;
pub mod keys;
pub mod members;
pub mod projects;
pub mod sign_in;
pub mod usage;
