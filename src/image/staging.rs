//! The Cloud Storage staging bucket for `--build source` (calls in [`crate::gcp::storage`]).
//! Names the bucket as `gcloud builds submit` does, checks that the project owns it, creates it
//! with uniform access and a 7-day lifecycle for staged sources, and uploads the archive.

use super::{ImageContext, ImageError};
use crate::gcp::storage;

/// Staged sources are deleted by the bucket's lifecycle rule after this many days.
const STAGED_SOURCE_DAYS: u32 = 7;

/// `gcloud builds submit`'s default: `<project>_cloudbuild`, with `:` and `.` of domain-scoped
/// project ids replaced by `_` and `google` spelt `elgoog` (bucket names may not contain it).
pub fn default_bucket_name(project: &str) -> String {
    format!(
        "{}_cloudbuild",
        project.replace([':', '.'], "_").replace("google", "elgoog")
    )
}

/// The staging bucket: `--staging-bucket`, else gcloud's default for the project.
pub fn bucket_name(staging_bucket: Option<&str>, project: &str) -> String {
    staging_bucket.map_or_else(|| default_bucket_name(project), str::to_string)
}

/// Makes sure the staging bucket exists and belongs to the project; returns its name.
pub async fn ensure_bucket(ctx: &ImageContext) -> Result<String, ImageError> {
    let bucket = bucket_name(ctx.staging_bucket.as_deref(), &ctx.google.project);
    if ensure_named(&ctx.google, &bucket, &ctx.labels).await? {
        Ok(bucket)
    } else {
        Err(ImageError::Api {
            action: format!("create staging bucket {bucket}"),
            message: TAKEN.into(),
        })
    }
}

/// What to do when another project owns the bucket's name.
pub const TAKEN: &str = "the name is taken by another project (bucket names are global); choose \
                         one with --staging-bucket";

/// Makes sure `bucket` exists and belongs to the project, creating it (with `labels`) when
/// absent; Ok(false) when another project owns the name.
pub async fn ensure_named(
    google: &crate::gcp::Google,
    bucket: &str,
    labels: &[(String, String)],
) -> anyhow::Result<bool> {
    // Ownership check as gcloud does it: list the project's buckets with the name as prefix.
    if storage::bucket_names(google, bucket)
        .await?
        .iter()
        .any(|b| b == bucket)
    {
        return Ok(true);
    }
    storage::create_bucket(google, bucket, labels, STAGED_SOURCE_DAYS).await
}

/// Uploads `data` as `object`; returns the object's generation.
pub async fn upload(
    ctx: &ImageContext,
    bucket: &str,
    object: &str,
    data: bytes::Bytes,
) -> Result<i64, ImageError> {
    Ok(storage::upload(&ctx.google, bucket, object, data).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_gcloud() {
        assert_eq!(default_bucket_name("my-project"), "my-project_cloudbuild");
        assert_eq!(
            default_bucket_name("example.com:my-google-app"),
            "example_com_my-elgoog-app_cloudbuild"
        );
    }
}
