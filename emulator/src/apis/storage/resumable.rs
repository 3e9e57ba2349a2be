//! Resumable uploads (what google-cloud-storage uses from 16 MiB, or when the size is
//! unknown): `POST …/o?uploadType=resumable` opens a session and answers its URL in
//! `Location`; `PUT` to that URL sends chunks with `Content-Range: bytes A-B/TOTAL` (or asks
//! for the status with `bytes */TOTAL`), answered 308 with `Range: bytes=0-N` until the last
//! byte arrives, then 200 with the object.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;

use super::answer::{Answer, header_str, json_response, read_metadata, require_bucket_project};
use super::model::{Progress, StorageError, Upload};
use crate::router::Call;

pub(super) fn start(call: &Call, mut upload: Upload) -> Answer {
    let bucket = call.param("bucket");
    read_metadata(&call.body, &mut upload)?;
    let announced = header_str(
        &call.headers,
        header::HeaderName::from_static("x-upload-content-type"),
    );
    if upload.content_type.is_empty() && !announced.is_empty() {
        upload.content_type = announced.to_string();
    }
    let id = call.emu.random_hex(16);
    call.emu
        .world(|w| w.storage.start_session(id.clone(), bucket, upload))?;
    let location = format!(
        "{}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={id}",
        call.emu.base_url()
    );
    response(
        Response::builder()
            .status(StatusCode::OK)
            .header(header::LOCATION, location)
            .header("x-guploader-uploadid", &id),
        Body::empty(),
    )
}

/// `bytes A-B/TOTAL`, `bytes A-B/*`, `bytes */TOTAL`, `bytes */*` → (first byte, total).
fn content_range(text: &str) -> Option<(Option<u64>, Option<u64>)> {
    let (range, total) = text.strip_prefix("bytes ")?.split_once('/')?;
    let total = match total {
        "*" => None,
        n => Some(n.parse().ok()?),
    };
    let first = match range {
        "*" => None,
        r => Some(r.split_once('-')?.0.parse().ok()?),
    };
    Some((first, total))
}

pub(super) fn put(call: &Call) -> Answer {
    let bucket = call.param("bucket");
    require_bucket_project(call, bucket)?;
    let id = call
        .query("upload_id")
        .ok_or_else(|| StorageError::required("upload_id"))?;
    let range = header_str(&call.headers, header::CONTENT_RANGE);
    let (first, total) = if range.is_empty() {
        (Some(0), Some(call.body.len() as u64))
    } else {
        content_range(range).ok_or_else(|| {
            StorageError::invalid(format!(
                "Invalid Content-Range \"{range}\": expected bytes FIRST-LAST/TOTAL or bytes */TOTAL."
            ))
        })?
    };
    let progress = call
        .emu
        .world(|w| w.storage.resume(id, first, &call.body, total))?;
    match progress {
        Progress::Done(object) => Ok(json_response(
            StatusCode::OK,
            &object.to_json(call.emu.base_url()),
        )),
        Progress::Partial(persisted) => {
            let mut builder = Response::builder().status(StatusCode::PERMANENT_REDIRECT);
            if persisted > 0 {
                builder = builder.header(header::RANGE, format!("bytes=0-{}", persisted - 1));
            }
            response(builder, Body::empty())
        }
    }
}

fn response(builder: axum::http::response::Builder, body: Body) -> Answer {
    builder.body(body).map_err(|e| {
        StorageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "backendError",
            e.to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("bytes 0-99/100"), Some((Some(0), Some(100))));
        assert_eq!(content_range("bytes 100-199/*"), Some((Some(100), None)));
        assert_eq!(content_range("bytes */100"), Some((None, Some(100))));
        assert_eq!(content_range("bytes */*"), Some((None, None)));
        assert_eq!(content_range("0-99/100"), None);
    }
}
