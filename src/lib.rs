//! chatctl as a library: the binary (`main.rs`) and the end-to-end tests drive the same code.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cli;
pub mod commands;
pub mod config;
mod context;
mod credentials;
mod diff;
mod doctor;
pub mod engine;
pub mod gcp;
pub mod image;
mod local;
mod lock;
mod logs;
mod names;
mod open;
pub mod outcome;
pub mod preflight;
mod regions;
pub mod report;
pub mod resource;
pub mod resources;
mod signals;
pub mod stack;
pub mod templates;
