//! chatctl as a library: the binary (`main.rs`) and the end-to-end tests drive the same code.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod credentials;
pub mod diff;
pub mod doctor;
pub mod engine;
pub mod gcp;
pub mod image;
pub mod local;
pub mod names;
pub mod outcome;
pub mod preflight;
pub mod regions;
pub mod report;
pub mod resource;
pub mod resources;
pub mod signals;
pub mod stack;
pub mod templates;
