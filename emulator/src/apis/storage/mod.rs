//! Cloud Storage JSON API v1 (storage.googleapis.com), the part a source deploy needs: buckets
//! insert/get/list/delete, object uploads (media, multipart and resumable), object get (metadata and
//! `alt=media`), list and delete. Synchronous, with Storage's legacy error shape
//! (`{"error":{code,message,errors:[{domain,reason,message}]}}`, no `status`). Bytes live in memory.

mod answer;
pub mod http;
pub mod model;
mod resumable;
mod rules;

pub const SERVICE: &str = "storage.googleapis.com";
